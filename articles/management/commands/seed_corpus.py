"""A generated corpus for benchmarks: Chinese tech articles, tags, sources,
readers who follow tags, reads and bookmarks.

    manage.py seed_corpus --articles 100000          # ~2,000 tags, ~1,000 sources
    manage.py seed_corpus --articles 2000 --reset

Text comes from word/phrase banks below (companies, products, topics, verbs,
sentence templates), so segmentation, search and related posts see realistic
vocabulary. The SearchDoc vector is exactly what
articles.search.index_article stores (grams + words, built by build_vector),
but in bulk: on PostgreSQL one COPY per batch. Stored stats (Tag.articles_count / followers_count / views_count,
Source.article_count, Article.bookmark_count) are computed from the rows.

Idempotent: everything it makes is marked (sources under SEED_HOST, tags with
SEED_MARK as description, users named seed-reader-*). Re-running with the same
N and seed is a no-op; another N (or --reset) removes the old corpus first.
Text generation and segmentation run in a process pool (the CPU part);
the main process only writes.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import random
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from articles.models import Article, Bookmark, SearchDoc, Tag, TagFollow, TaggedArticle
from feeds.models import Source

SEED_HOST = "seed.newsroom.invalid"
SEED_MARK = "seed_corpus"
USER_PREFIX = "seed-reader-"
BATCH = 2000

COMPANIES = [
    "华为", "英伟达", "NVIDIA", "AMD", "英特尔", "Intel", "高通", "苹果", "三星", "台积电", "中芯国际", "小米", "OPPO",
    "vivo", "荣耀", "联想", "阿里巴巴", "阿里云", "腾讯", "腾讯云", "百度", "字节跳动", "京东", "美团", "网易", "微软",
    "谷歌", "Meta", "OpenAI", "Anthropic", "特斯拉", "比亚迪", "宁德时代", "蔚来", "小鹏", "理想汽车", "大疆", "海康威视",
    "紫光展锐", "长江存储", "长鑫存储", "寒武纪", "地平线", "摩尔线程", "壁仞科技", "海光信息", "龙芯中科", "中兴通讯",
    "联发科", "Arm", "博通", "美光", "SK海力士", "铠侠", "西部数据", "希捷", "戴尔", "惠普", "浪潮信息", "曙光", "紫光股份",
    "商汤科技", "科大讯飞", "智谱", "月之暗面", "DeepSeek", "MiniMax", "零一万物", "百川智能", "Mistral", "Stability AI",
]
PRODUCTS = [
    "昇腾910B", "麒麟9000S", "H100", "H200", "B200", "GB200", "RTX 5090", "RTX 4090", "MI300X", "骁龙8 Gen 3",
    "天玑9300", "A18 Pro", "M4 Max", "Exynos 2400", "鸿蒙OS", "HarmonyOS NEXT", "澎湃OS", "iOS 18", "Android 15",
    "Windows 11", "通义千问", "文心一言", "混元大模型", "豆包大模型", "DeepSeek-R1", "DeepSeek-V3", "Kimi", "GLM-4",
    "GPT-4o", "Claude", "Gemini", "Llama 3", "Qwen2.5", "Vision Pro", "Mate 70", "小米15", "iPhone 16", "Galaxy S25",
    "Model Y", "汉EV", "问界M9", "Wi-Fi 7", "PCIe 6.0", "DDR5", "HBM3E", "LPDDR5X", "UFS 4.0", "CXL 3.0", "USB4",
    "RISC-V", "CUDA", "ROCm", "PyTorch", "TensorFlow", "Kubernetes", "Linux 6.12", "Rust", "Python 3.13", "PostgreSQL 17",
]
TOPICS = [
    "大模型", "推理芯片", "训练集群", "算力", "人工智能", "生成式AI", "智能体", "多模态", "端侧AI", "光刻机", "先进封装",
    "晶圆代工", "3nm", "2nm", "存储芯片", "固态硬盘", "显卡", "GPU", "CPU", "服务器", "数据中心", "液冷", "云计算", "边缘计算",
    "5G", "6G", "卫星通信", "物联网", "自动驾驶", "智能座舱", "激光雷达", "固态电池", "动力电池", "充电桩", "新能源汽车",
    "折叠屏", "智能手机", "平板电脑", "笔记本", "可穿戴设备", "AR眼镜", "VR头显", "机器人", "人形机器人", "无人机",
    "开源", "操作系统", "数据库", "编程语言", "网络安全", "数据安全", "隐私计算", "区块链", "量子计算", "芯片设计", "EDA",
    "半导体设备", "国产替代", "供应链", "出货量", "财报", "融资", "并购", "专利", "标准", "开发者", "生态", "应用商店",
]
VERBS = ["发布", "推出", "宣布", "量产", "开源", "升级", "曝光", "上市", "交付", "测试", "部署", "公布", "披露", "开售", "亮相"]
ADJECTIVES = ["全新", "新一代", "旗舰级", "高性能", "低功耗", "国产", "自研", "开源", "企业级", "消费级", "下一代", "第二代"]
NUMBERS = ["30%", "50%", "两倍", "三倍", "10亿元", "100亿美元", "1万台", "500万部", "8%", "每秒1000次", "1.5TB/s", "4096个"]
TITLE_TEMPLATES = [
    "{c}{v}{a}{p}，{t}性能大幅提升",
    "{c}正式{v}{p}：面向{t}市场",
    "{t}迎来新进展，{c}{v}{p}",
    "{c}与{c2}合作推进{t}，{p}{v}在即",
    "{p}{v}：{c}押注{t}",
    "独家｜{c}{t}业务调整，{p}成重点",
    "{c}财报：{t}收入增长{n}",
    "{a}{p}深度评测：{t}体验如何？",
    "{c}{v}{t}白皮书，{p}生态扩容",
    "从{p}看{c}的{t}布局",
]
SENTENCES = [
    "据{c}官方消息，{a}{p}已于近日{v}，主要面向{t}场景。",
    "业内人士认为，{p}的{v}将进一步推动{t}产业的发展。",
    "与上一代产品相比，{p}在{t}方面的性能提升了{n}，功耗则明显下降。",
    "{c}表示，公司将持续加大在{t}领域的研发投入，预计明年{v}更多产品。",
    "市场研究机构的数据显示，今年第三季度{t}市场规模同比增长{n}。",
    "值得注意的是，{c2}此前也{v}了类似方案，双方在{t}上的竞争日趋激烈。",
    "目前{p}已经完成与主流{t}平台的适配，开发者可以通过官网下载相关工具。",
    "分析师指出，{t}的瓶颈在于供应链和生态，{c}需要在{p}上证明自己。",
    "在发布会上，{c}展示了基于{p}的{a}{t}解决方案，吸引了大量开发者关注。",
    "{c}和{c2}宣布在{t}方面达成战略合作，共同推进{p}的商用落地。",
    "有消息称，{c}正在测试搭载{p}的新机型，预计将在明年上半年{v}。",
    "从测试结果来看，{p}在{t}负载下的表现稳定，单卡吞吐达到{n}。",
    "对于国内厂商而言，{t}既是机遇也是挑战，{a}产品的竞争力正在快速提升。",
    "{c}相关负责人透露，{p}的出货量已经超过{n}，订单排到了明年。",
    "此外，{c}还更新了{p}的软件栈，对{t}和{t2}做了专门优化。",
]
SOURCE_SUFFIXES = ["科技", "资讯", "观察", "评论", "快讯", "前沿", "频道", "日报", "研究院", "实验室", "技术社区", "公众号"]


def _fill(template: str, rng: random.Random, focus: dict) -> str:
    return template.format(
        c=focus["c"], c2=rng.choice(COMPANIES), p=focus["p"], t=focus["t"], t2=rng.choice(TOPICS),
        v=rng.choice(VERBS), a=rng.choice(ADJECTIVES), n=rng.choice(NUMBERS),
    )


def tag_names(count: int) -> list[str]:
    """Real vocabulary first, then company × topic / product-line names up to `count` (unique)."""
    names: list[str] = []
    seen: set[str] = set()

    def add(name: str) -> None:
        key = name.lower()
        if key not in seen and len(name) <= 100:
            seen.add(key)
            names.append(name)

    for name in TOPICS + COMPANIES + PRODUCTS:
        add(name)
    for t in TOPICS:
        for c in COMPANIES:
            add(f"{c}{t}")
    for a in ADJECTIVES:
        for t in TOPICS:
            add(f"{a}{t}")
    i = 0
    while len(names) < count:
        add(f"{TOPICS[i % len(TOPICS)]}专题{i}")
        i += 1
    return names[:count]


def _zipf_index(rng: random.Random, n: int, s: float = 1.1) -> int:
    # Inverse-CDF approximation of a Zipf-like choice: popular tags get most articles.
    u = rng.random()
    return min(int(n ** (u ** s)) - 1, n - 1) if n > 1 else 0


def _generate_batch(args: tuple) -> list[dict]:
    """Runs in a pool process: text, tokens, tags for a batch of articles."""
    from articles.search import build_vector
    from articles.text.sanitize import html_to_text
    from articles.text.tokenizer import keywords, search_tokens

    start, stop, seed, n_tags, n_sources, now_ts, span_days = args
    rng = random.Random(seed * 1_000_003 + start)
    rows = []
    for i in range(start, stop):
        focus = {"c": rng.choice(COMPANIES), "p": rng.choice(PRODUCTS), "t": rng.choice(TOPICS)}
        title = _fill(rng.choice(TITLE_TEMPLATES), rng, focus)
        paragraphs = []
        for _ in range(rng.randint(5, 12)):
            paragraphs.append("".join(_fill(rng.choice(SENTENCES), rng, focus) for _ in range(rng.randint(2, 4))))
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        text = html_to_text(body)
        title_tokens = search_tokens(title)
        body_tokens = search_tokens(text)
        # Tags: the article's own focus words (so keyword tagging would agree) plus a Zipf-popular few.
        tag_idx = {TOPICS.index(focus["t"]), len(TOPICS) + COMPANIES.index(focus["c"])}
        for _ in range(rng.randint(1, 4)):
            tag_idx.add(_zipf_index(rng, n_tags))
        tag_idx = {t for t in tag_idx if t < n_tags}
        if not tag_idx:
            tag_idx = {0}
        # Recent articles are denser, like a live site: ages skewed toward now.
        age = span_days * 86400 * (rng.random() ** 2)
        status = "published" if rng.random() > 0.01 else "hidden"
        rows.append({
            "n": i,
            "source": rng.randrange(n_sources),
            "title": title[:500],
            "summary": text[:160],
            "body": body,
            # The tsvector index_article stores: grams for recall plus the tokenizer's words.
            "vector": build_vector(title=title, body_text=text, title_tokens=title_tokens, body_tokens=body_tokens),
            "keywords": keywords(f"{title} {title} {text[:4000]}", top_k=15),  # as ingest stores them
            "published_ts": now_ts - age,
            "status": status,
            "reads": int(rng.paretovariate(1.3) * 20) - 20 + rng.randint(0, 30),
            "tags": sorted(tag_idx),
            "origin": rng.choice(COMPANIES) + rng.choice(SOURCE_SUFFIXES) if rng.random() < 0.3 else "",
        })
    return rows


class Command(BaseCommand):
    help = "Generate a realistic Chinese tech-news corpus for benchmarks (idempotent; --reset to rebuild)."

    def add_arguments(self, parser):
        parser.add_argument("--articles", type=int, default=1000)
        parser.add_argument("--tags", type=int, default=None, help="default: 2,000 at 100k articles, scaled down below")
        parser.add_argument("--sources", type=int, default=None, help="default: 1,000 at 100k articles, scaled down below")
        parser.add_argument("--users", type=int, default=None, help="readers who follow tags and bookmark (default N/50)")
        parser.add_argument("--days", type=int, default=365, help="publish dates spread over this many days")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--processes", type=int, default=None)
        parser.add_argument("--reset", action="store_true", help="delete the seeded corpus first")

    def handle(self, *args, articles: int, tags, sources, users, days, seed, processes, reset, **opts):
        n = max(articles, 0)
        n_tags = tags or max(20, min(2000, n // 50))
        n_sources = sources or max(5, min(1000, n // 100))
        n_users = users if users is not None else max(5, n // 50)
        existing = Article.objects.filter(source__url__contains=SEED_HOST).count()
        if not reset and existing == n and n and Tag.objects.filter(description=SEED_MARK).count() == n_tags:
            self.stdout.write(f"corpus already seeded with {n} articles; nothing to do (--reset to rebuild)")
            return
        started = time.monotonic()
        self._reset()
        if n == 0:
            self.stdout.write("seeded corpus removed")
            return
        tag_ids = self._tags(n_tags)
        source_ids = self._sources(n_sources)
        self._articles(n, tag_ids, source_ids, seed=seed, days=days, processes=processes)
        self._readers(n_users, tag_ids, seed=seed)
        # Planner statistics before the counting queries: on a freshly loaded database the
        # planner's guesses turn the per-tag counts into minutes of nested scans.
        self._analyze()
        self._stats()
        self._analyze()
        self.stdout.write(
            f"seeded {n} articles, {n_tags} tags, {n_sources} sources, {n_users} readers "
            f"in {time.monotonic() - started:.0f} s"
        )

    # --- steps ------------------------------------------------------------------

    def _reset(self) -> None:
        seed_sources = Source.objects.filter(url__contains=SEED_HOST)
        with transaction.atomic():
            from articles.models import RelatedArticle

            seed_articles = Article.objects.filter(source__in=seed_sources)
            # The big cascades in plain SQL first, so the collector below has little left to walk.
            TaggedArticle.objects.filter(content_object__in=seed_articles)._raw_delete(TaggedArticle.objects.db)
            RelatedArticle.objects.filter(article__in=seed_articles)._raw_delete(RelatedArticle.objects.db)
            RelatedArticle.objects.filter(related__in=seed_articles)._raw_delete(RelatedArticle.objects.db)
            SearchDoc.objects.filter(article__in=seed_articles)._raw_delete(SearchDoc.objects.db)
            seed_articles.delete()
            TagFollow.objects.filter(user__username__startswith=USER_PREFIX).delete()
            get_user_model().objects.filter(username__startswith=USER_PREFIX).delete()
            Tag.objects.filter(description=SEED_MARK).delete()
            seed_sources.delete()

    def _tags(self, count: int) -> list[int]:
        from django.utils.text import slugify

        names = tag_names(count)
        taken_names = {n.lower() for n in Tag.objects.values_list("name", flat=True)}
        taken_slugs = set(Tag.objects.values_list("slug", flat=True))
        objs = []
        for i, name in enumerate(names):
            if name.lower() in taken_names:
                name = f"{name}·{i}"
            slug = slugify(name, allow_unicode=True) or f"tag-{i}"
            while slug in taken_slugs:
                slug = f"{slug}_{i}"
            taken_slugs.add(slug)
            objs.append(Tag(name=name, slug=slug, description=SEED_MARK))
        created = Tag.objects.bulk_create(objs, batch_size=1000)
        if created and created[0].pk is None:  # backends that don't return ids
            by_name = dict(Tag.objects.filter(description=SEED_MARK).values_list("name", "id"))
            return [by_name[t.name] for t in objs]
        return [t.pk for t in created]

    def _sources(self, count: int) -> list[int]:
        rng = random.Random(count)
        objs = []
        far = timezone.now() + timedelta(days=3650)
        for i in range(count):
            name = f"{rng.choice(COMPANIES)}{rng.choice(SOURCE_SUFFIXES)}{i}"
            objs.append(Source(
                name=name, slug=f"seed-{i}", url=f"https://{SEED_HOST}/{i}/feed.xml",
                site_url=f"https://{SEED_HOST}/{i}/", active=False, next_fetch_at=far, last_status="ok",
            ))
        Source.objects.bulk_create(objs, batch_size=1000)
        return list(Source.objects.filter(url__contains=SEED_HOST).order_by("id").values_list("id", flat=True))

    def _articles(self, n: int, tag_ids: list[int], source_ids: list[int], *, seed: int, days: int,
                  processes: int | None) -> None:
        now = timezone.now()
        jobs = [(s, min(s + BATCH, n), seed, len(tag_ids), len(source_ids), now.timestamp(), days)
                for s in range(0, n, BATCH)]
        procs = processes or max(1, min(multiprocessing.cpu_count(), 4))
        done = 0
        if procs > 1 and len(jobs) > 1:
            connection.close()  # never fork a live database connection
            pool = multiprocessing.get_context("fork").Pool(procs)
            batches = pool.imap(_generate_batch, jobs)
        else:
            pool = None
            batches = map(_generate_batch, jobs)
        try:
            for rows in batches:
                self._write_batch(rows, tag_ids, source_ids, now)
                done += len(rows)
                self.stdout.write(f"  {done}/{n} articles", ending="\r")
                self.stdout.flush()
        finally:
            if pool is not None:
                pool.close()
                pool.join()
        self.stdout.write("")

    def _write_batch(self, rows: list[dict], tag_ids: list[int], source_ids: list[int], now) -> None:
        from datetime import datetime, timezone as dt_timezone

        objs = []
        for r in rows:
            guid = f"https://{SEED_HOST}/a/{r['n']}"
            h = hashlib.sha1(guid.encode()).hexdigest()
            published = datetime.fromtimestamp(r["published_ts"], tz=dt_timezone.utc)
            objs.append(Article(
                source_id=source_ids[r["source"]], guid=guid, guid_hash=h, url=guid, canonical_url=guid, url_hash=h,
                title=r["title"], summary=r["summary"], body=r["body"], origin_account=r["origin"],
                published_at=published, fetched_at=published, status=r["status"], read_count=max(r["reads"], 0),
                keywords=r["keywords"],
            ))
        with transaction.atomic():
            created = Article.objects.bulk_create(objs)
            if created and created[0].pk is None:
                by_hash = dict(Article.objects.filter(guid_hash__in=[a.guid_hash for a in objs])
                               .values_list("guid_hash", "id"))
                ids = [by_hash[a.guid_hash] for a in objs]
            else:
                ids = [a.pk for a in created]
            TaggedArticle.objects.bulk_create(
                [TaggedArticle(content_object_id=aid, tag_id=tag_ids[t]) for aid, r in zip(ids, rows) for t in r["tags"]],
                batch_size=5000,
            )
            if connection.vendor == "postgresql":
                self._write_vectors([(aid, a.published_at, a.title, r["vector"]) for aid, a, r in zip(ids, objs, rows)])

    @staticmethod
    def _write_vectors(items: list[tuple]) -> None:
        """SearchDoc rows (article id, published_at, title, tsvector literal) for a whole batch: one COPY."""
        with connection.cursor() as cursor:
            with cursor.copy("COPY articles_searchdoc (article_id, published_at, title, vector) FROM STDIN") as copy:
                for item in items:
                    copy.write_row(item)

    def _readers(self, count: int, tag_ids: list[int], *, seed: int) -> None:
        if count <= 0:
            return
        rng = random.Random(seed + 7)
        User = get_user_model()
        User.objects.bulk_create(
            [User(username=f"{USER_PREFIX}{i}", password="!") for i in range(count)], batch_size=2000
        )
        user_ids = list(User.objects.filter(username__startswith=USER_PREFIX).values_list("id", flat=True))
        follows = set()
        for uid in user_ids:
            for _ in range(rng.randint(1, 15)):
                follows.add((uid, tag_ids[_zipf_index(rng, len(tag_ids))]))
        TagFollow.objects.bulk_create([TagFollow(user_id=u, tag_id=t) for u, t in follows], batch_size=5000)
        recent = list(
            Article.objects.filter(source__url__contains=SEED_HOST, status=Article.Status.PUBLISHED)
            .order_by("-published_at").values_list("id", flat=True)[:5000]
        )
        marks = set()
        for uid in user_ids:
            for _ in range(rng.randint(0, 5)):
                marks.add((uid, rng.choice(recent)))
        Bookmark.objects.bulk_create([Bookmark(user_id=u, article_id=a) for u, a in marks], batch_size=5000)

    @staticmethod
    def _analyze() -> None:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for table in ("articles_article", "articles_searchdoc", "articles_taggedarticle", "articles_tag",
                              "articles_tagfollow", "feeds_source", "articles_bookmark"):
                    cursor.execute(f"VACUUM ANALYZE {table}")

    def _stats(self) -> None:
        """Stored counts, computed from the rows (what the site keeps up incrementally)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE articles_tag SET "
                "articles_count = (SELECT COUNT(*) FROM articles_taggedarticle ta JOIN articles_article a "
                "  ON a.id = ta.content_object_id WHERE ta.tag_id = articles_tag.id AND a.status = 'published'), "
                "views_count = (SELECT COALESCE(SUM(a.read_count), 0) FROM articles_taggedarticle ta "
                "  JOIN articles_article a ON a.id = ta.content_object_id WHERE ta.tag_id = articles_tag.id), "
                "followers_count = (SELECT COUNT(*) FROM articles_tagfollow f WHERE f.tag_id = articles_tag.id) "
                "WHERE description = %s",
                [SEED_MARK],
            )
            cursor.execute(
                "UPDATE articles_article SET bookmark_count = "
                "(SELECT COUNT(*) FROM articles_bookmark b WHERE b.article_id = articles_article.id) "
                "WHERE id IN (SELECT article_id FROM articles_bookmark)"
            )
            cursor.execute(
                "UPDATE feeds_source SET article_count = (SELECT COUNT(*) FROM articles_article a "
                "WHERE a.source_id = feeds_source.id AND a.status = 'published') WHERE url LIKE %s",
                [f"%{SEED_HOST}%"],
            )
