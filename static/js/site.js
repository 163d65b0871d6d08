// Follow / bookmark forms work without JavaScript; with it they update in place.
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form.js-toggle");
  if (!form) return;
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(String(response.status));
    const data = await response.json();
    const action = form.querySelector('input[name="action"]');
    if (form.dataset.kind === "follow") {
      const following = data.following;
      action.value = following ? "unfollow" : "follow";
      const label = button.getAttribute("aria-label").replace(/^(取消关注|关注) /, "");
      button.textContent = following ? "已关注" : "+ 关注";
      button.setAttribute("aria-label", (following ? "取消关注 " : "关注 ") + label);
      button.setAttribute("aria-pressed", String(following));
      button.classList.toggle("following", following);
      document.querySelectorAll(`.tagchip[data-tag="${CSS.escape(form.closest(".tagchip").dataset.tag)}"] [data-followers]`)
        .forEach((el) => { el.textContent = formatCount(data.followers); });
    } else {
      const on = data.bookmarked;
      action.value = on ? "remove" : "add";
      button.innerHTML = `${on ? "已收藏" : "收藏"} <span data-bookmarks>${formatCount(data.bookmarks)}</span>`;
      button.setAttribute("aria-pressed", String(on));
      button.classList.toggle("following", on);
    }
  } catch (err) {
    form.submit();  // fall back to the plain POST
    return;
  } finally {
    button.disabled = false;
  }
});

function formatCount(n) {
  if (n < 10000) return String(n);
  if (n < 100000000) return (Math.floor(n / 1000) / 10).toString().replace(/\.0$/, "") + "万";
  return (Math.floor(n / 10000000) / 10).toString().replace(/\.0$/, "") + "亿";
}
