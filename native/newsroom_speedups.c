/* Compiled kernels of the ingest text pipeline (see native/README.md).

Each function here is a drop-in for a Python function that stays in the
project as the reference and the fallback; the tests compare the two on the
corpus and on random text. Nothing here decides anything the Python code
does not: same algorithm, same order, same output.

  build_vector(title, body, title_tokens, body_tokens) -> str
      articles.search._build_vector_py: the tsvector literal. ``title`` and
      ``body`` arrive width-folded and lowercased (the caller does it, as
      _runs does), the body already cut at MAX_INDEX_CHARS.

  simhash_tokens(tokens, ignored, idf_cache, idf, feature_hash) -> int
      articles.text.simhash.simhash: the distinct tokens counted and weighed
      (count * idf) in order of first appearance, then bit b of the unsigned
      64-bit value is set when the sum, in order, of weight * (+1.0 if hash
      bit b is set else -1.0) is > 0, which is the reference definition
      (_float_bit).

  keyword_rank(surface_counts, stopwords, idf_cache, idf, top_k) -> list[str]
      articles.text.tokenizer.keywords after the counting: surface forms
      grouped by lowercase key, candidates only, ranked by count * IDF.

  tag_runs(keys, vocabulary, prefixes, max_ngram) -> list[str]
      articles.text.tagging._matches over keys already made by tag_keys: the
      longest vocabulary run at each key, else the tags inside a compound.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* articles/search.py: keep these in step (a test compares them). */
#define MAX_POSITION 16000
#define WRAP_JOINED (MAX_POSITION + 300)
#define CLAMP 16383
#define MAX_POSITIONS_PER_LEXEME 256
#define MAX_LEXEME_BYTES 200

static inline int is_han(Py_UCS4 c) {
    return (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xf900 && c <= 0xfaff);
}

/* --- growable arrays ------------------------------------------------------ */

/* ``items`` (``*cap`` items of ``size`` bytes, full) with room for ``first`` or twice as
   many; NULL with MemoryError set (``items`` untouched). */
static void *grown(void *items, Py_ssize_t *cap, Py_ssize_t first, size_t size) {
    Py_ssize_t more = *cap ? *cap * 2 : first;
    void *bigger = PyMem_Realloc(items, more * size);
    if (!bigger)
        return PyErr_NoMemory();
    *cap = more;
    return bigger;
}

typedef struct {
    int *items;
    Py_ssize_t n, cap;
} IntList;

static int intlist_push(IntList *l, int v) {
    if (l->n == l->cap) {
        int *items = grown(l->items, &l->cap, 4, sizeof(int));
        if (!items)
            return -1;
        l->items = items;
    }
    l->items[l->n++] = v;
    return 0;
}

/* --- lexemes, in segments (see _Lexemes in articles/search.py) --------- */

/* A label is position * 2 + (1 for weight B, 0 for A). */
typedef struct {
    PyObject *lexeme; /* owned */
    int last;         /* position of the last label taken */
    IntList labels;
} Entry;

typedef struct {
    PyObject *index; /* lexeme -> int, into entries */
    Entry *entries;
    Py_ssize_t n, cap;
} Segment;

typedef struct {
    Segment *segs;
    Py_ssize_t n, cap;
} Lexemes;

static void segment_free(Segment *s) {
    Py_XDECREF(s->index);
    for (Py_ssize_t i = 0; i < s->n; i++) {
        Py_DECREF(s->entries[i].lexeme);
        PyMem_Free(s->entries[i].labels.items);
    }
    PyMem_Free(s->entries);
}

static void lexemes_free(Lexemes *L) {
    for (Py_ssize_t i = 0; i < L->n; i++)
        segment_free(&L->segs[i]);
    PyMem_Free(L->segs);
}

static int lexemes_wrap(Lexemes *L) {
    if (L->n == L->cap) {
        Segment *segs = grown(L->segs, &L->cap, 2, sizeof(Segment));
        if (!segs)
            return -1;
        L->segs = segs;
    }
    Segment *s = &L->segs[L->n];
    memset(s, 0, sizeof(*s));
    s->index = PyDict_New();
    if (!s->index)
        return -1;
    L->n++;
    return 0;
}

/* _Lexemes.add: steals nothing; ``lexeme`` is a new reference the caller releases. */
static int lexemes_add(Lexemes *L, PyObject *lexeme, int pos, int weight_b) {
    Segment *s = &L->segs[L->n - 1];
    PyObject *found = PyDict_GetItemWithError(s->index, lexeme);
    if (found) {
        Entry *e = &s->entries[PyLong_AsSsize_t(found)];
        if (e->last != pos && e->labels.n + 1 <= MAX_POSITIONS_PER_LEXEME) {
            e->last = pos;
            return intlist_push(&e->labels, pos * 2 + weight_b);
        }
        return 0;
    }
    if (PyErr_Occurred())
        return -1;
    if (PyUnicode_GET_LENGTH(lexeme) * 4 > MAX_LEXEME_BYTES) {
        Py_ssize_t size;
        if (!PyUnicode_AsUTF8AndSize(lexeme, &size))
            return -1; /* as lexeme.encode("utf-8") would raise */
        if (size > MAX_LEXEME_BYTES)
            return 0;
    }
    if (s->n == s->cap) {
        Entry *entries = grown(s->entries, &s->cap, 256, sizeof(Entry));
        if (!entries)
            return -1;
        s->entries = entries;
    }
    PyObject *at = PyLong_FromSsize_t(s->n);
    if (!at)
        return -1;
    int failed = PyDict_SetItem(s->index, lexeme, at);
    Py_DECREF(at);
    if (failed)
        return -1;
    Entry *e = &s->entries[s->n++];
    Py_INCREF(lexeme);
    e->lexeme = lexeme;
    e->last = pos;
    memset(&e->labels, 0, sizeof(e->labels));
    return intlist_push(&e->labels, pos * 2 + weight_b);
}

static int add_slice(Lexemes *L, PyObject *text, Py_ssize_t start, Py_ssize_t end, int pos, int weight_b) {
    PyObject *lexeme = PyUnicode_Substring(text, start, end);
    if (!lexeme)
        return -1;
    int r = lexemes_add(L, lexeme, pos, weight_b);
    Py_DECREF(lexeme);
    return r;
}

static inline int min_clamp(int pos) { return pos < CLAMP ? pos : CLAMP; }

/* _Lexemes.grams: returns the next free position, or -1 on error. */
static int lexemes_grams(Lexemes *L, PyObject *text, int pos, int weight_b) {
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_ssize_t i = 0, last_end = 0;
    while (i < n) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        int han;
        Py_ssize_t start = i;
        if (is_han(c)) {
            han = 1;
            while (i < n && is_han(PyUnicode_READ(kind, data, i)))
                i++;
        } else if (Py_UNICODE_ISALNUM(c)) {
            han = 0;
            while (i < n) {
                Py_UCS4 d = PyUnicode_READ(kind, data, i);
                if (!Py_UNICODE_ISALNUM(d) || is_han(d))
                    break;
                i++;
            }
        } else {
            i++;
            continue;
        }
        int joined = 1;
        for (Py_ssize_t k = last_end; k < start; k++) {
            if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, k))) {
                joined = 0;
                break;
            }
        }
        last_end = i;
        Py_ssize_t size = i - start;
        if (!joined) {
            pos += 1;
            if (pos + size > MAX_POSITION) {
                if (lexemes_wrap(L) < 0)
                    return -1;
                pos = 1;
            }
        } else if (pos + size > WRAP_JOINED) {
            if (lexemes_wrap(L) < 0)
                return -1;
            pos = 1;
        }
        if (han) {
            if (size == 1) {
                if (add_slice(L, text, start, i, pos, weight_b) < 0)
                    return -1;
                pos += 1;
                continue;
            }
            for (Py_ssize_t k = 0; k < size - 1; k++) {
                if (add_slice(L, text, start + k, start + k + 2, min_clamp(pos + (int)k), weight_b) < 0)
                    return -1;
            }
            if (add_slice(L, text, i - 1, i, min_clamp(pos + (int)size - 2), weight_b) < 0)
                return -1;
            pos += (int)size - 1;
        } else {
            if (pos > CLAMP) {
                PyErr_SetString(PyExc_IndexError, "position out of range");
                return -1;
            }
            if (add_slice(L, text, start, i, pos, weight_b) < 0)
                return -1;
            /* _ALNUM_PART_RE: letter runs and digit runs; added only when there are several. */
            int several = 0;
            int first_digit = Py_UNICODE_ISDECIMAL(PyUnicode_READ(kind, data, start)) != 0;
            for (Py_ssize_t k = start + 1; k < i; k++) {
                if ((Py_UNICODE_ISDECIMAL(PyUnicode_READ(kind, data, k)) != 0) != first_digit) {
                    several = 1;
                    break;
                }
            }
            if (several) {
                Py_ssize_t part = start;
                while (part < i) {
                    int digit = Py_UNICODE_ISDECIMAL(PyUnicode_READ(kind, data, part)) != 0;
                    Py_ssize_t end = part + 1;
                    while (end < i && (Py_UNICODE_ISDECIMAL(PyUnicode_READ(kind, data, end)) != 0) == digit)
                        end++;
                    if (add_slice(L, text, part, end, pos, weight_b) < 0)
                        return -1;
                    part = end;
                }
            }
            pos += 1;
        }
    }
    return pos;
}

/* --- the literal ----------------------------------------------------------- */

typedef struct {
    Py_UCS4 *buf;
    Py_ssize_t n, cap;
} Writer;

static int writer_reserve(Writer *w, Py_ssize_t more) {
    while (w->n + more > w->cap) {
        Py_UCS4 *buf = grown(w->buf, &w->cap, 4096, sizeof(Py_UCS4));
        if (!buf)
            return -1;
        w->buf = buf;
    }
    return 0;
}

static int write_space(Writer *w) {
    if (writer_reserve(w, 1) < 0)
        return -1;
    w->buf[w->n++] = ' ';
    return 0;
}

static int write_lexeme(Writer *w, PyObject *lexeme) {
    /* "'" + lexeme with \ and ' doubled + "':" — _lexeme_literal's two cases in one. */
    int kind = PyUnicode_KIND(lexeme);
    const void *data = PyUnicode_DATA(lexeme);
    Py_ssize_t n = PyUnicode_GET_LENGTH(lexeme);
    if (writer_reserve(w, 2 * n + 3) < 0)
        return -1;
    w->buf[w->n++] = '\'';
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '\\' || c == '\'')
            w->buf[w->n++] = c;
        w->buf[w->n++] = c;
    }
    w->buf[w->n++] = '\'';
    w->buf[w->n++] = ':';
    return 0;
}

static int write_labels(Writer *w, const int *labels, Py_ssize_t n) {
    if (writer_reserve(w, n * 8) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i)
            w->buf[w->n++] = ',';
        int pos = labels[i] >> 1;
        char digits[12];
        int d = 0;
        do {
            digits[d++] = (char)('0' + pos % 10);
            pos /= 10;
        } while (pos);
        while (d)
            w->buf[w->n++] = (Py_UCS4)digits[--d];
        w->buf[w->n++] = (labels[i] & 1) ? 'B' : 'A';
    }
    return 0;
}

static int compare_ints(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* _merge_labels: first label of each position, at most 256 positions (in the order
   taken), sorted by position. ``seen`` has CLAMP + 1 zeroed bytes and is zeroed again. */
static Py_ssize_t merge_labels(int *labels, Py_ssize_t n, unsigned char *seen) {
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int pos = labels[i] >> 1;
        if (!seen[pos] && kept < MAX_POSITIONS_PER_LEXEME) {
            seen[pos] = 1;
            labels[kept++] = labels[i];
        }
    }
    for (Py_ssize_t i = 0; i < kept; i++)
        seen[labels[i] >> 1] = 0;
    qsort(labels, kept, sizeof(int), compare_ints);
    return kept;
}

static PyObject *lexemes_literal(Lexemes *L) {
    Writer w = {0};
    PyObject *result = NULL;
    if (L->n == 1) {
        Segment *s = &L->segs[0];
        for (Py_ssize_t i = 0; i < s->n; i++) {
            if (i && write_space(&w) < 0)
                goto done;
            if (write_lexeme(&w, s->entries[i].lexeme) < 0 ||
                write_labels(&w, s->entries[i].labels.items, s->entries[i].labels.n) < 0)
                goto done;
        }
    } else {
        /* Lexemes in order of first appearance over the segments, their labels concatenated. */
        PyObject *order = PyDict_New();
        PyObject *lexemes = PyList_New(0);
        IntList *merged = NULL;
        Py_ssize_t count = 0, cap = 0;
        unsigned char *seen = PyMem_Calloc(CLAMP + 1, 1);
        int ok = order && lexemes && seen;
        if (!seen)
            PyErr_NoMemory();
        for (Py_ssize_t si = 0; ok && si < L->n; si++) {
            Segment *s = &L->segs[si];
            for (Py_ssize_t i = 0; ok && i < s->n; i++) {
                Entry *e = &s->entries[i];
                PyObject *found = PyDict_GetItemWithError(order, e->lexeme);
                Py_ssize_t at;
                if (found) {
                    at = PyLong_AsSsize_t(found);
                } else if (PyErr_Occurred()) {
                    ok = 0;
                    break;
                } else {
                    if (count == cap) {
                        IntList *more = grown(merged, &cap, 256, sizeof(IntList));
                        if (!more) {
                            ok = 0;
                            break;
                        }
                        memset(more + count, 0, (cap - count) * sizeof(IntList));
                        merged = more;
                    }
                    at = count++;
                    PyObject *key = PyLong_FromSsize_t(at);
                    if (!key || PyDict_SetItem(order, e->lexeme, key) < 0 || PyList_Append(lexemes, e->lexeme) < 0) {
                        Py_XDECREF(key);
                        ok = 0;
                        break;
                    }
                    Py_DECREF(key);
                }
                for (Py_ssize_t k = 0; ok && k < e->labels.n; k++)
                    if (intlist_push(&merged[at], e->labels.items[k]) < 0)
                        ok = 0;
            }
        }
        for (Py_ssize_t i = 0; ok && i < count; i++) {
            Py_ssize_t kept = merge_labels(merged[i].items, merged[i].n, seen);
            if (i && write_space(&w) < 0)
                ok = 0;
            else if (write_lexeme(&w, PyList_GET_ITEM(lexemes, i)) < 0 || write_labels(&w, merged[i].items, kept) < 0)
                ok = 0;
        }
        for (Py_ssize_t i = 0; i < count; i++)
            PyMem_Free(merged[i].items);
        PyMem_Free(merged);
        PyMem_Free(seen);
        Py_XDECREF(order);
        Py_XDECREF(lexemes);
        if (!ok)
            goto done;
    }
    result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, w.buf ? w.buf : (Py_UCS4 *)"", w.n);
done:
    PyMem_Free(w.buf);
    return result;
}

static int add_tokens(Lexemes *L, PyObject *tokens, int *pos, int weight_b) {
    PyObject *seq = PySequence_Fast(tokens, "tokens must be a sequence of str");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *token = items[i];
        if (!PyUnicode_Check(token)) {
            PyErr_SetString(PyExc_TypeError, "tokens must be str");
            Py_DECREF(seq);
            return -1;
        }
        if (PyUnicode_GET_LENGTH(token) == 0)
            continue;
        if (lexemes_add(L, token, min_clamp(*pos), weight_b) < 0) {
            Py_DECREF(seq);
            return -1;
        }
        *pos += 1;
    }
    Py_DECREF(seq);
    return 0;
}

static PyObject *build_vector(PyObject *self, PyObject *args) {
    PyObject *title, *body, *title_tokens, *body_tokens;
    if (!PyArg_ParseTuple(args, "UUOO:build_vector", &title, &body, &title_tokens, &body_tokens))
        return NULL;
    Lexemes L = {0};
    PyObject *result = NULL;
    if (lexemes_wrap(&L) < 0)
        goto done;
    int pos = lexemes_grams(&L, title, 1, 0);
    if (pos < 0)
        goto done;
    pos = lexemes_grams(&L, body, pos + 2, 1);
    if (pos < 0)
        goto done;
    pos += 2;
    if (add_tokens(&L, title_tokens, &pos, 0) < 0 || add_tokens(&L, body_tokens, &pos, 1) < 0)
        goto done;
    result = lexemes_literal(&L);
done:
    lexemes_free(&L);
    return result;
}

/* --- SimHash bits ------------------------------------------------------------ */

/* Bit b set when the sum, in order, of w[i] * (+1.0 if bit b of h[i] else -1.0) is > 0. */
static uint64_t bit_sums(const double *w, const uint64_t *h, Py_ssize_t n) {
    uint64_t value = 0;
    for (int bit = 0; bit < 64; bit++) {
        /* weight * ±1.0 is exactly ±weight: the same additions, in the same order, as _float_bit. */
        double total = 0.0;
        for (Py_ssize_t i = 0; i < n; i++)
            total += ((h[i] >> bit) & 1) ? w[i] : -w[i];
        if (total > 0)
            value |= (uint64_t)1 << bit;
    }
    return value;
}

/* An IDF: idf_cache[key] where it holds it, else idf(key); -1.0 with an error set on failure. */
static double idf_of(PyObject *idf_cache, PyObject *idf, PyObject *key) {
    PyObject *cached = PyDict_GetItemWithError(idf_cache, key);
    if (cached)
        return PyFloat_AsDouble(cached);
    if (PyErr_Occurred())
        return -1.0;
    PyObject *computed = PyObject_CallOneArg(idf, key);
    if (!computed)
        return -1.0;
    double value = PyFloat_AsDouble(computed);
    Py_DECREF(computed);
    return value;
}

/* simhash_tokens(tokens, ignored, idf_cache, idf, feature_hash) -> the unsigned SimHash of
   articles.text.simhash.simhash: each distinct token of 2+ characters not in ``ignored``, in
   order of first appearance, weighs count * idf(token) (``idf_cache[token]`` where it holds
   it), with the bits of feature_hash(token). */
static PyObject *simhash_tokens(PyObject *self, PyObject *args) {
    PyObject *tokens, *ignored, *idf_cache, *idf, *feature_hash;
    if (!PyArg_ParseTuple(args, "O!OO!OO:simhash_tokens", &PyList_Type, &tokens, &ignored, &PyDict_Type, &idf_cache,
                          &idf, &feature_hash))
        return NULL;
    if (!PyAnySet_Check(ignored)) {
        PyErr_SetString(PyExc_TypeError, "ignored must be a set or frozenset");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(tokens);
    PyObject *index = PyDict_New(); /* token -> its slot, in order of first appearance */
    Py_ssize_t *counts = PyMem_Malloc((n ? n : 1) * sizeof(Py_ssize_t));
    PyObject **distinct = PyMem_Malloc((n ? n : 1) * sizeof(PyObject *)); /* borrowed from tokens */
    double *w = PyMem_Malloc((n ? n : 1) * sizeof(double));
    uint64_t *h = PyMem_Malloc((n ? n : 1) * sizeof(uint64_t));
    PyObject *result = NULL;
    Py_ssize_t slots = 0, m = 0;
    if (!index || !counts || !distinct || !w || !h) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *token = PyList_GET_ITEM(tokens, i);
        PyObject *slot = PyDict_GetItemWithError(index, token);
        if (slot) {
            counts[PyLong_AsSsize_t(slot)]++;
            continue;
        }
        if (PyErr_Occurred())
            goto done;
        PyObject *at = PyLong_FromSsize_t(slots);
        if (!at || PyDict_SetItem(index, token, at) < 0) {
            Py_XDECREF(at);
            goto done;
        }
        Py_DECREF(at);
        distinct[slots] = token;
        counts[slots++] = 1;
    }
    for (Py_ssize_t i = 0; i < slots; i++) {
        PyObject *token = distinct[i];
        if (!PyUnicode_Check(token)) {
            PyErr_SetString(PyExc_TypeError, "tokens must be str");
            goto done;
        }
        if (PyUnicode_GET_LENGTH(token) < 2)
            continue;
        int skip = PySet_Contains(ignored, token);
        if (skip < 0)
            goto done;
        if (skip)
            continue;
        double value = idf_of(idf_cache, idf, token);
        if (value == -1.0 && PyErr_Occurred())
            goto done;
        PyObject *hashed = PyObject_CallOneArg(feature_hash, token);
        if (!hashed)
            goto done;
        h[m] = PyLong_AsUnsignedLongLongMask(hashed);
        Py_DECREF(hashed);
        if (h[m] == (uint64_t)-1 && PyErr_Occurred())
            goto done;
        w[m++] = (double)counts[i] * value; /* count * idf(token): an int times a float, as Python does it */
    }
    result = PyLong_FromUnsignedLongLong(m ? bit_sums(w, h, m) : 0);
done:
    Py_XDECREF(index);
    PyMem_Free(counts);
    PyMem_Free(distinct);
    PyMem_Free(w);
    PyMem_Free(h);
    return result;
}

/* --- tag_runs: articles.text.tagging._matches ------------------------------- */

/* 1 if the first n characters of s are all ``ok`` (and there is one at least). */
static int every_char(PyObject *s, Py_ssize_t n, int (*ok)(Py_UCS4)) {
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    for (Py_ssize_t i = 0; i < n; i++)
        if (!ok(PyUnicode_READ(kind, data, i)))
            return 0;
    return n > 0;
}

/* _ALL_HAN_RE of tagging: CJK Extension A and Unified Ideographs only. */
static int tag_han(Py_UCS4 c) { return (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff); }

static int all_tag_han(PyObject *s) { return every_char(s, PyUnicode_GET_LENGTH(s), tag_han); }


/* vocabulary.get(key) if it is true, else NULL (no error) or NULL with an error set. */
static PyObject *vocab_hit(PyObject *vocabulary, PyObject *key) {
    PyObject *canonical = PyDict_GetItemWithError(vocabulary, key); /* borrowed */
    if (!canonical)
        return NULL;
    int truth = PyObject_IsTrue(canonical);
    if (truth < 0)
        return NULL;
    return truth ? canonical : NULL;
}

/* _inner_matches: tags inside a compound the dictionary keeps whole, longest first, non-overlapping. */
static int inner_matches(PyObject *token, PyObject *vocabulary, PyObject *found) {
    Py_ssize_t len = PyUnicode_GET_LENGTH(token);
    char *taken = PyMem_Calloc(len ? len : 1, 1);
    if (!taken) {
        PyErr_NoMemory();
        return -1;
    }
    int rc = 0;
    for (Py_ssize_t size = len - 1; size > 1 && rc == 0; size--) {
        for (Py_ssize_t start = 0; start + size <= len; start++) {
            int busy = 0;
            for (Py_ssize_t k = start; k < start + size; k++)
                busy |= taken[k];
            if (busy)
                continue;
            PyObject *part = PyUnicode_Substring(token, start, start + size);
            if (!part) {
                rc = -1;
                break;
            }
            PyObject *canonical = vocab_hit(vocabulary, part);
            Py_DECREF(part);
            if (!canonical) {
                if (PyErr_Occurred()) {
                    rc = -1;
                    break;
                }
                continue;
            }
            if (PyList_Append(found, canonical) < 0) {
                rc = -1;
                break;
            }
            memset(taken + start, 1, size);
        }
    }
    PyMem_Free(taken);
    return rc;
}

/* tag_runs(keys, vocabulary, prefixes, max_ngram) -> the canonical names _matches finds: at each
   key the longest run of up to max_ngram keys that is a vocabulary key, the run grown only while
   it is in ``prefixes``; else the tags inside an all-Han key of 3+ characters. */
static PyObject *tag_runs(PyObject *self, PyObject *args) {
    PyObject *keys, *vocabulary, *prefixes;
    Py_ssize_t max_ngram;
    if (!PyArg_ParseTuple(args, "O!O!On:tag_runs", &PyList_Type, &keys, &PyDict_Type, &vocabulary, &prefixes,
                          &max_ngram))
        return NULL;
    if (!PyAnySet_Check(prefixes)) {
        PyErr_SetString(PyExc_TypeError, "prefixes must be a set or frozenset");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(keys);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyUnicode_Check(PyList_GET_ITEM(keys, i))) {
            PyErr_SetString(PyExc_TypeError, "keys must be str");
            return NULL;
        }
    }
    PyObject *found = PyList_New(0);
    if (!found)
        return NULL;
    Py_ssize_t i = 0;
    while (i < n) {
        PyObject *key = PyList_GET_ITEM(keys, i);
        int starts = PySet_Contains(prefixes, key);
        if (starts < 0)
            goto fail;
        Py_ssize_t best_n = 0;
        PyObject *best = NULL; /* borrowed from vocabulary */
        if (starts) {
            /* _longest_by_prefix */
            Py_ssize_t limit = n - i < max_ngram ? n - i : max_ngram;
            PyObject *run = key;
            Py_INCREF(run);
            for (Py_ssize_t m = 1; m <= limit; m++) {
                if (m > 1) {
                    PyObject *longer = PyUnicode_Concat(run, PyList_GET_ITEM(keys, i + m - 1));
                    Py_DECREF(run);
                    if (!longer)
                        goto fail;
                    run = longer;
                    int more = PySet_Contains(prefixes, run);
                    if (more < 0) {
                        Py_DECREF(run);
                        goto fail;
                    }
                    if (!more)
                        break;
                }
                PyObject *canonical = vocab_hit(vocabulary, run);
                if (canonical) {
                    best = canonical;
                    best_n = m;
                } else if (PyErr_Occurred()) {
                    Py_DECREF(run);
                    goto fail;
                }
            }
            Py_DECREF(run);
        }
        if (best) {
            if (PyList_Append(found, best) < 0)
                goto fail;
            i += best_n;
        } else {
            if (PyUnicode_GET_LENGTH(key) >= 3 && all_tag_han(key) && inner_matches(key, vocabulary, found) < 0)
                goto fail;
            i += 1;
        }
    }
    return found;
fail:
    Py_DECREF(found);
    return NULL;
}

/* --- keyword_rank: the ranking of articles.text.tokenizer.keywords ----------- */

static int numeric_char(Py_UCS4 c) {
    return Py_UNICODE_ISDECIMAL(c) || c == '.' || c == ',' || c == '%' || c == '+' || c == '-';
}

/* _NUMERIC_RE.match: ^[\d.,%+\-]+$ (\d: Unicode decimal digits; $ also before a final \n). */
static int numeric_token(PyObject *s) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (n > 0 && PyUnicode_READ_CHAR(s, n - 1) == '\n')
        n--;
    return every_char(s, n, numeric_char);
}

typedef struct {
    double score;
    Py_ssize_t order;
} Ranked;

static int by_score(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

/* keyword_rank(surface_counts, stopwords, idf_cache, idf, top_k) -> the top_k keywords of
   tokenizer.keywords: surface forms counted together by their lowercase key (keys that are
   no keyword candidates left out), ranked by -count * idf(key), first appearance first
   among equals, each given as its most common surface form (the first of equals). */
static PyObject *keyword_rank(PyObject *self, PyObject *args) {
    PyObject *surfaces, *stopwords, *idf_cache, *idf;
    Py_ssize_t top_k;
    if (!PyArg_ParseTuple(args, "O!OO!On:keyword_rank", &PyDict_Type, &surfaces, &stopwords, &PyDict_Type, &idf_cache,
                          &idf, &top_k))
        return NULL;
    if (!PyAnySet_Check(stopwords)) {
        PyErr_SetString(PyExc_TypeError, "stopwords must be a set or frozenset");
        return NULL;
    }
    Py_ssize_t cap = PyDict_GET_SIZE(surfaces) ? PyDict_GET_SIZE(surfaces) : 1;
    PyObject *slots = PyDict_New(); /* key -> slot */
    PyObject **keys = PyMem_Calloc(cap, sizeof(PyObject *));
    PyObject **best = PyMem_Calloc(cap, sizeof(PyObject *)); /* borrowed from surfaces */
    long long *count = PyMem_Calloc(cap, sizeof(long long));
    long long *best_n = PyMem_Calloc(cap, sizeof(long long));
    Ranked *ranked = PyMem_Calloc(cap, sizeof(Ranked));
    PyObject *result = NULL;
    Py_ssize_t m = 0;
    if (!slots || !keys || !best || !count || !best_n || !ranked) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t pos = 0;
    PyObject *surface, *value;
    while (PyDict_Next(surfaces, &pos, &surface, &value)) {
        long long n = PyLong_AsLongLong(value);
        if (n == -1 && PyErr_Occurred())
            goto done;
        if (!PyUnicode_Check(surface)) {
            PyErr_SetString(PyExc_TypeError, "surface forms must be str");
            goto done;
        }
        PyObject *key = PyObject_CallMethod(surface, "lower", NULL);
        if (!key)
            goto done;
        Py_ssize_t i;
        PyObject *slot = PyDict_GetItemWithError(slots, key);
        if (slot) {
            i = PyLong_AsSsize_t(slot);
            Py_DECREF(key);
        } else {
            if (PyErr_Occurred()) {
                Py_DECREF(key);
                goto done;
            }
            int stop = PyUnicode_GET_LENGTH(key) < 2 ? 1 : PySet_Contains(stopwords, key);
            if (stop == 0)
                stop = numeric_token(key);
            if (stop) {
                Py_DECREF(key);
                if (stop < 0)
                    goto done;
                continue;
            }
            PyObject *at = PyLong_FromSsize_t(m);
            if (!at || PyDict_SetItem(slots, key, at) < 0) {
                Py_XDECREF(at);
                Py_DECREF(key);
                goto done;
            }
            Py_DECREF(at);
            i = m++;
            keys[i] = key; /* owned */
        }
        count[i] += n;
        if (!best[i] || n > best_n[i]) {
            best[i] = surface;
            best_n[i] = n;
        }
    }
    for (Py_ssize_t i = 0; i < m; i++) {
        double weight = idf_of(idf_cache, idf, keys[i]);
        if (weight == -1.0 && PyErr_Occurred())
            goto done;
        ranked[i].score = (double)(-count[i]) * weight; /* -counts[k] * idf(k): an int times a float */
        ranked[i].order = i;
    }
    qsort(ranked, m, sizeof(Ranked), by_score); /* (score, order): what a stable sort by score gives */
    Py_ssize_t k = top_k < m ? (top_k > 0 ? top_k : 0) : m;
    result = PyList_New(k);
    if (!result)
        goto done;
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *form = best[ranked[i].order];
        Py_INCREF(form);
        PyList_SET_ITEM(result, i, form);
    }
done:
    if (keys)
        for (Py_ssize_t i = 0; i < m; i++)
            Py_XDECREF(keys[i]);
    Py_XDECREF(slots);
    PyMem_Free(keys);
    PyMem_Free(best);
    PyMem_Free(count);
    PyMem_Free(best_n);
    PyMem_Free(ranked);
    return result;
}

static PyObject *constants(PyObject *self, PyObject *unused) {
    return Py_BuildValue("{s:i,s:i,s:i,s:i,s:i}", "MAX_POSITION", MAX_POSITION, "WRAP_JOINED", WRAP_JOINED, "CLAMP",
                         CLAMP, "MAX_POSITIONS_PER_LEXEME", MAX_POSITIONS_PER_LEXEME, "MAX_LEXEME_BYTES",
                         MAX_LEXEME_BYTES);
}

static PyMethodDef methods[] = {
    {"build_vector", build_vector, METH_VARARGS,
     "build_vector(title, body, title_tokens, body_tokens) -> tsvector literal (articles.search)"},
    {"simhash_tokens", simhash_tokens, METH_VARARGS,
     "simhash_tokens(tokens, ignored, idf_cache, idf, feature_hash) -> unsigned 64-bit SimHash of the tokens"},
    {"keyword_rank", keyword_rank, METH_VARARGS,
     "keyword_rank(surface_counts, stopwords, idf_cache, idf, top_k) -> keywords (articles.text.tokenizer.keywords)"},
    {"tag_runs", tag_runs, METH_VARARGS,
     "tag_runs(keys, vocabulary, prefixes, max_ngram) -> canonical tag names (articles.text.tagging._matches)"},
    {"constants", constants, METH_NOARGS, "The limits compiled in, for the tests to compare."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "newsroom_speedups",
                                    "Compiled kernels of Newsroom's text pipeline.", -1, methods};

PyMODINIT_FUNC PyInit_newsroom_speedups(void) { return PyModule_Create(&module); }
