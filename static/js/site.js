// Follow / bookmark forms work without JavaScript (plain POST + redirect);
// with it they update in place. Buttons are real <button>s: keyboard and
// screen readers work the same either way (aria-pressed, aria-label).
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
    if (response.status === 429) {
      const data = await response.json().catch(() => ({}));
      announce(data.error || "操作太频繁，请稍后再试。");
      return;
    }
    if (!response.ok) throw new Error(String(response.status));
    const data = await response.json();
    const action = form.querySelector('input[name="action"]');
    if (form.dataset.kind === "follow") {
      const following = data.following;
      action.value = following ? "unfollow" : "follow";
      const name = button.getAttribute("aria-label").replace(/^(取消关注|关注) /, "");
      button.textContent = following ? "已关注" : "+ 关注";
      button.setAttribute("aria-label", (following ? "取消关注 " : "关注 ") + name);
      button.setAttribute("aria-pressed", String(following));
      button.classList.toggle("following", following);
      const scope = form.dataset.scope;
      const boxes = scope ? document.querySelectorAll(scope) : [form.parentElement];
      boxes.forEach((box) => box.querySelectorAll("[data-followers]").forEach((el) => {
        el.textContent = formatCount(data.followers);
      }));
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

function announce(text) {
  let box = document.getElementById("live-status");
  if (!box) {
    box = document.createElement("p");
    box.id = "live-status";
    box.className = "msg toast";
    box.setAttribute("role", "status");
    document.body.appendChild(box);
  }
  box.textContent = text;
}

// Same rules as articles/text/formatting.zh_count: 9999, 1.2万, 3.4亿 (half-up, ".0" trimmed).
function formatCount(n) {
  if (n < 10000) return String(n);
  const wan = Math.round(n / 1000) / 10;
  if (wan < 10000) return String(wan).replace(/\.0$/, "") + "万";
  return String(Math.round(n / 10000000) / 10).replace(/\.0$/, "") + "亿";
}
