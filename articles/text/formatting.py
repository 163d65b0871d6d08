"""How Chinese readers expect counts and times (CHINESE.md): 1.2万 / 3.4亿,
刚刚 / 5分钟前 / 3小时前 / 3天前 / MM-DD HH:mm / YYYY-MM-DD, in Asia/Shanghai
(the project TIME_ZONE) via django.utils.timezone.localtime.

Every reader is shown the site's own zone: nothing activates a zone per reader, so
``site_zone`` is the default zone (remembered by Django), not the current one, which
Django looks up in asgiref's context-local storage at 2 µs a call (a list page formats
a few dozen times)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import timezone

__all__ = ["site_zone", "zh_count", "zh_datetime", "zh_time"]

_WAN = 10_000
_YI = 100_000_000
_RELATIVE_DAYS = 4  # "3天前" still reads naturally; older shows the date


def _one_decimal(value: Decimal, unit: int) -> Decimal:
    return (value / unit).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _trim(value: Decimal) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def zh_count(value: object) -> str:
    """0–9999 as is, then 1.2万, 10.9万, 3.4亿 (".0" trimmed: 10000 → 1万)."""
    if value is None or value == "":
        return "0"
    try:
        number = Decimal(str(value)).to_integral_value(rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return str(value)
    sign = "-" if number < 0 else ""
    number = abs(number)
    if number < _WAN:
        return f"{sign}{int(number)}"
    wan = _one_decimal(number, _WAN)
    if wan < _WAN:  # 99,999,999 rounds to 10000.0万: that is 1亿
        return f"{sign}{_trim(wan)}万"
    return f"{sign}{_trim(_one_decimal(number, _YI))}亿"


def site_zone():
    """The zone times are shown in: settings.TIME_ZONE."""
    return timezone.get_default_timezone()


def _local(value: datetime | date) -> datetime:
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, site_zone())
    return value.astimezone(site_zone())


def zh_time(value: datetime | date | None, now: datetime | None = None) -> str:
    """刚刚 (<1 min), N分钟前, N小时前, N天前 (<4 days), then MM-DD HH:mm this
    year, else YYYY-MM-DD. Times slightly in the future (clock skew) read 刚刚."""
    if value is None or value == "":
        return ""
    local = _local(value)
    now_local = (now or timezone.now()).astimezone(site_zone())
    delta = now_local - local
    if delta < timedelta(minutes=1):
        if delta >= -timedelta(minutes=5):
            return "刚刚"
    elif delta < timedelta(hours=1):
        return f"{int(delta.total_seconds() // 60)}分钟前"
    elif delta < timedelta(days=1):
        return f"{int(delta.total_seconds() // 3600)}小时前"
    elif delta < timedelta(days=_RELATIVE_DAYS):
        return f"{delta.days}天前"
    if local.year == now_local.year:
        return local.strftime("%m-%d %H:%M")
    return local.strftime("%Y-%m-%d")


def zh_datetime(value: datetime | date | None) -> str:
    """YYYY-MM-DD HH:mm in local (Asia/Shanghai) time."""
    if value is None or value == "":
        return ""
    return _local(value).strftime("%Y-%m-%d %H:%M")
