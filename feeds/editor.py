"""Editor pages: add a source with a preview before saving; OPML import/export."""
from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from feeds.models import Source
from feeds.opml import export_opml
from feeds.preview import source_preview
from feeds.services import source_create, sources_import_opml


class SourceForm(forms.Form):
    url = forms.URLField(label="订阅地址或列表页地址", max_length=2000, assume_scheme="https")
    kind = forms.ChoiceField(label="类型", choices=Source.Kind.choices, initial=Source.Kind.RSS)
    name = forms.CharField(label="名称（留空则用订阅源标题）", max_length=200, required=False)
    tags = forms.CharField(label="默认标签（逗号分隔）", max_length=500, required=False)
    selectors = forms.CharField(
        label="CSS 选择器（HTML 列表页，JSON）", required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text='例如 {"item": "ul.news a", "title": "h1", "date": ".time", "body": "#content"}',
    )

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        existing = Source.objects.filter(url=url).first()
        if existing:
            raise ValidationError(f"这个地址已经是订阅源「{existing.name}」（#{existing.pk}）")
        return url

    def clean_selectors(self) -> dict:
        raw = self.cleaned_data.get("selectors", "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ValidationError(f"不是有效的 JSON：{exc}")
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValidationError("需要一个 JSON 对象，值为 CSS 选择器字符串")
        return value

    def clean(self):
        data = super().clean()
        if data.get("kind") == Source.Kind.HTML and not (data.get("selectors") or {}).get("item"):
            self.add_error("selectors", "HTML 列表页至少需要 item（条目链接）选择器")
        return data


@staff_member_required
def source_new(request: HttpRequest) -> HttpResponse:
    form = SourceForm(request.POST or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if "save" in request.POST:
            tags = [t.strip() for t in data["tags"].replace("，", ",").split(",") if t.strip()]
            source = source_create(url=data["url"], kind=data["kind"], name=data["name"], tags=tags,
                                   selectors=data["selectors"])
            messages.success(request, f"已添加订阅源「{source.name}」，将在下一轮调度时抓取")
            return redirect(f"/admin/feeds/source/{source.pk}/change/")
        preview = source_preview(url=data["url"], kind=data["kind"], selectors=data["selectors"])
    return render(request, "feeds/source_new.html", {"form": form, "preview": preview})


@staff_member_required
def opml_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        upload = request.FILES.get("opml")
        if upload is None or upload.size > 5 * 1024 * 1024:
            messages.error(request, "请选择一个不超过 5 MB 的 OPML 文件")
            return redirect("/editor/opml/")
        try:
            report = sources_import_opml(data=upload.read())
        except ValueError as exc:
            messages.error(request, str(exc))
            return redirect("/editor/opml/")
        created, skipped = report.created, report.skipped
        messages.success(request, f"导入 {created} 个订阅源，跳过 {skipped} 个")
        for problem in report.problems[:10]:  # why an outline was skipped (an invalid URL …)
            messages.warning(request, f"跳过：{problem}")
        return redirect("/editor/opml/")
    if request.GET.get("download"):
        response = HttpResponse(export_opml(Source.objects.order_by("name")), content_type="text/x-opml; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="newsroom-sources.opml"'
        return response
    return render(request, "feeds/opml.html", {"count": Source.objects.count()})
