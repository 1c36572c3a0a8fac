/* regex.c - a linear-time regular-expression search for matches(): the
 * pattern compiles to a small program run as a Pike VM (Thompson NFA
 * simulation), so time is O(pattern x text) and memory fixed, whatever
 * the pattern.  Subset: literals, ., [classes], \d \w \s and their
 * negations, escapes, ^ $, ( ) (?: ), |, * + ? {n} {n,} {n,m}.  Operates
 * on UTF-8: '.' and a multi-byte literal consume whole code points. */
#include <stddef.h>
#include <string.h>

#include "policies/internal.h"

#define PROG_MAX   1024u
#define REPEAT_MAX 100u
#define RDEPTH_MAX 32u

enum { I_BYTE, I_SET, I_ANY, I_SPLIT, I_JMP, I_BOL, I_EOL, I_MATCH };

struct inst {
	uint8_t op;
	uint8_t byte;
	uint16_t set; /* index into sets */
	uint16_t x, y;
};

struct prog {
	struct inst code[PROG_MAX];
	unsigned n;
	uint8_t sets[64][32];
	unsigned sets_n;
	const char *p; /* pattern */
	size_t len;
	size_t at;
	unsigned depth;
	bool bad;
};

static unsigned emit(struct prog *g, uint8_t op, uint16_t x, uint16_t y)
{
	if (g->n >= PROG_MAX) {
		g->bad = true;
		return PROG_MAX - 1;
	}
	g->code[g->n].op = op;
	g->code[g->n].x = x;
	g->code[g->n].y = y;
	return g->n++;
}

static int new_set(struct prog *g)
{
	if (g->sets_n >= 64) {
		g->bad = true;
		return 0;
	}
	memset(g->sets[g->sets_n], 0, 32);
	return (int)g->sets_n++;
}

static void set_add(uint8_t *s, unsigned lo, unsigned hi)
{
	for (unsigned c = lo; c <= hi; c++)
		s[c / 8] |= (uint8_t)(1u << (c % 8));
}

/* \d \w \s (and upper-case negations) into set s; false if not one. */
static bool class_escape(uint8_t *s, char c)
{
	uint8_t tmp[32] = {0};
	bool neg = c == 'D' || c == 'W' || c == 'S';

	switch (c | 0x20) {
	case 'd':
		set_add(tmp, '0', '9');
		break;
	case 'w':
		set_add(tmp, '0', '9');
		set_add(tmp, 'a', 'z');
		set_add(tmp, 'A', 'Z');
		set_add(tmp, '_', '_');
		break;
	case 's':
		set_add(tmp, '\t', '\r');
		set_add(tmp, ' ', ' ');
		break;
	default:
		return false;
	}
	for (unsigned i = 0; i < 32; i++)
		s[i] |= neg ? (uint8_t)(~tmp[i] & (i < 16 ? 0xff : 0)) : tmp[i];
	return true;
}

static unsigned literal_byte(char c)
{
	static const char in[] = "nrtfv";
	static const char out[] = "\n\r\t\f\v";
	const char *k = memchr(in, c, 5);

	return k ? (unsigned char)out[k - in] : (unsigned char)c;
}

/* [...] -> one I_SET instruction (ASCII only). */
static void parse_class(struct prog *g)
{
	int si = new_set(g);
	uint8_t *s = g->sets[si];
	bool neg = false, first = true;

	if (g->at < g->len && g->p[g->at] == '^') {
		neg = true;
		g->at++;
	}
	while (g->at < g->len && (g->p[g->at] != ']' || first)) {
		unsigned lo = (unsigned char)g->p[g->at++], hi;

		first = false;
		if (lo >= 0x80)
			g->bad = true;
		if (lo == '\\' && g->at < g->len) {
			if (class_escape(s, g->p[g->at])) {
				g->at++;
				continue;
			}
			lo = literal_byte(g->p[g->at++]);
		}
		hi = lo;
		if (g->at + 1 < g->len && g->p[g->at] == '-' &&
		    g->p[g->at + 1] != ']') {
			hi = (unsigned char)g->p[g->at + 1];
			g->at += 2;
			if (hi < lo || hi >= 0x80 || hi == '\\')
				g->bad = true;
		}
		set_add(s, lo, hi);
	}
	if (g->at >= g->len)
		g->bad = true;
	g->at++;
	if (neg)
		for (unsigned i = 0; i < 32; i++)
			s[i] = (uint8_t)(~s[i] & (i < 16 ? 0xff : 0));
	g->code[emit(g, I_SET, 0, 0)].set = (uint16_t)si;
}

static void parse_alt(struct prog *g);

/* '.': a lead byte, then any continuation bytes of its code point. */
static void any(struct prog *g)
{
	int si;
	unsigned split;

	emit(g, I_ANY, 0, 0);
	split = emit(g, I_SPLIT, 0, 0);
	si = new_set(g);
	set_add(g->sets[si], 0x80, 0xbf);
	g->code[emit(g, I_SET, 0, 0)].set = (uint16_t)si;
	emit(g, I_JMP, (uint16_t)split, 0);
	g->code[split].x = (uint16_t)(split + 1);
	g->code[split].y = (uint16_t)g->n;
}

/* One atom; its code is appended at the end of the program. */
static void parse_atom(struct prog *g)
{
	char c = g->p[g->at++];
	size_t k;

	switch (c) {
	case '.':
		any(g);
		return;
	case '^':
		emit(g, I_BOL, 0, 0);
		return;
	case '$':
		emit(g, I_EOL, 0, 0);
		return;
	case '[':
		parse_class(g);
		return;
	case '(':
		if (g->at + 1 < g->len && g->p[g->at] == '?') {
			if (g->p[g->at + 1] != ':')
				g->bad = true;
			g->at += 2;
		}
		if (++g->depth > RDEPTH_MAX) {
			g->bad = true;
			return;
		}
		parse_alt(g);
		g->depth--;
		if (g->at >= g->len || g->p[g->at] != ')')
			g->bad = true;
		g->at++;
		return;
	case ')':
	case '*':
	case '+':
	case '?':
	case '{':
	case '|':
		g->bad = true;
		return;
	case '\\':
		if (g->at >= g->len) {
			g->bad = true;
			return;
		}
		c = g->p[g->at++];
		if (class_escape(g->sets[new_set(g)], c)) {
			g->code[emit(g, I_SET, 0, 0)].set =
				(uint16_t)(g->sets_n - 1);
			return;
		}
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			if (!memchr("nrtfv", c, 5))
				g->bad = true;
		g->code[emit(g, I_BYTE, 0, 0)].byte = (uint8_t)literal_byte(c);
		return;
	}
	g->code[emit(g, I_BYTE, 0, 0)].byte = (uint8_t)c;
	/* the rest of a multi-byte code point belongs to this atom */
	for (k = 0; (c & 0xc0) == 0xc0 && g->at < g->len &&
		    ((unsigned char)g->p[g->at] & 0xc0) == 0x80 && k < 3;
	     k++)
		g->code[emit(g, I_BYTE, 0, 0)].byte = (uint8_t)g->p[g->at++];
}

/* Reads {n}, {n,}, {n,m}; max = -1 for unbounded. */
static bool parse_braces(struct prog *g, int *min, int *max)
{
	int v = 0;

	*min = 0;
	while (g->at < g->len && g->p[g->at] >= '0' && g->p[g->at] <= '9' &&
	       v <= (int)REPEAT_MAX)
		v = v * 10 + (g->p[g->at++] - '0');
	*min = *max = v;
	if (g->at < g->len && g->p[g->at] == ',') {
		g->at++;
		*max = -1;
		if (g->at < g->len && g->p[g->at] != '}') {
			for (v = 0; g->at < g->len && g->p[g->at] >= '0' &&
				    g->p[g->at] <= '9' && v <= (int)REPEAT_MAX;)
				v = v * 10 + (g->p[g->at++] - '0');
			*max = v;
		}
	}
	if (g->at >= g->len || g->p[g->at] != '}' || *min > (int)REPEAT_MAX ||
	    *max > (int)REPEAT_MAX || (*max >= 0 && *max < *min))
		return false;
	g->at++;
	return true;
}

/* Copies code[from..to) to the end of the program, relocating jumps. */
static void copy_code(struct prog *g, unsigned from, unsigned to)
{
	int shift = (int)g->n - (int)from;

	for (unsigned i = from; i < to && !g->bad; i++) {
		unsigned k = emit(g, g->code[i].op, 0, 0);

		g->code[k] = g->code[i];
		if (g->code[i].op == I_SPLIT || g->code[i].op == I_JMP) {
			g->code[k].x = (uint16_t)(g->code[i].x + shift);
			g->code[k].y = (uint16_t)(g->code[i].y + shift);
		}
	}
}

/* Inserts an instruction at position at, moving code[at..n) up one. */
static void insert_at(struct prog *g, unsigned at, uint8_t op, uint16_t x,
		      uint16_t y)
{
	if (g->n >= PROG_MAX) {
		g->bad = true;
		return;
	}
	memmove(&g->code[at + 1], &g->code[at],
		(g->n - at) * sizeof(g->code[0]));
	g->n++;
	for (unsigned i = at + 1; i < g->n; i++)
		if (g->code[i].op == I_SPLIT || g->code[i].op == I_JMP) {
			g->code[i].x += g->code[i].x >= at;
			g->code[i].y += g->code[i].y >= at;
		}
	g->code[at].op = op;
	g->code[at].x = x;
	g->code[at].y = y;
}

/* Applies a quantifier to the atom at code[start..n). */
static void quantify(struct prog *g, unsigned start, int min, int max)
{
	unsigned end = g->n, len = end - start;

	if (end + 2 >= PROG_MAX) {
		g->bad = true;
		return;
	}
	if (min == 0) {
		g->n = start;  /* rebuild: atom copies follow */
		if (max < 0) { /* L: split body, out; body; jmp L */
			memmove(&g->code[start + 1], &g->code[start],
				len * sizeof(g->code[0]));
			g->n = start + 1 + len;
			for (unsigned i = start + 1; i < g->n; i++)
				if (g->code[i].op == I_SPLIT ||
				    g->code[i].op == I_JMP) {
					g->code[i].x++;
					g->code[i].y++;
				}
			g->code[start].op = I_SPLIT;
			g->code[start].x = (uint16_t)(start + 1);
			emit(g, I_JMP, (uint16_t)start, 0);
			g->code[start].y = (uint16_t)g->n;
			return;
		}
		g->n = end;
		insert_at(g, start, I_SPLIT, (uint16_t)(start + 1), 0);
		g->code[start].y = (uint16_t)g->n;
		for (int k = 1; k < max && !g->bad; k++) {
			unsigned s = g->n;

			emit(g, I_SPLIT, (uint16_t)(s + 1), 0);
			copy_code(g, start + 1, start + 1 + len);
			g->code[s].y = (uint16_t)g->n;
		}
		return;
	}
	for (int k = 1; k < min && !g->bad; k++)
		copy_code(g, start, start + len);
	if (max < 0) {
		unsigned s = emit(g, I_SPLIT, 0, 0);

		g->code[s].x = (uint16_t)(s - len);
		g->code[s].y = (uint16_t)(s + 1);
	}
	for (int k = min; max >= 0 && k < max && !g->bad; k++) {
		unsigned s = emit(g, I_SPLIT, 0, 0);

		g->code[s].x = (uint16_t)(s + 1);
		copy_code(g, start, start + len);
		g->code[s].y = (uint16_t)g->n;
	}
}

static void parse_concat(struct prog *g)
{
	while (g->at < g->len && g->p[g->at] != '|' && g->p[g->at] != ')' &&
	       !g->bad) {
		unsigned start = g->n;
		int min = -1, max = -1;

		parse_atom(g);
		if (g->at < g->len) {
			char q = g->p[g->at];

			if (q == '*' || q == '+' || q == '?') {
				g->at++;
				min = q == '+';
				max = q == '?' ? 1 : -1;
			} else if (q == '{') {
				g->at++;
				if (!parse_braces(g, &min, &max))
					g->bad = true;
			}
		}
		if (min >= 0 && !g->bad)
			quantify(g, start, min, max);
		if (g->at < g->len && strchr("*+?{", g->p[g->at]) != NULL)
			g->bad = true; /* stacked quantifiers */
	}
}

static void parse_alt(struct prog *g)
{
	unsigned start = g->n;

	parse_concat(g);
	while (g->at < g->len && g->p[g->at] == '|' && !g->bad) {
		unsigned jmp;

		g->at++;
		insert_at(g, start, I_SPLIT, (uint16_t)(start + 1), 0);
		jmp = emit(g, I_JMP, 0, 0);
		g->code[start].y = (uint16_t)g->n;
		parse_concat(g);
		g->code[jmp].x = (uint16_t)g->n;
	}
}

/* ---- the VM
 * -------------------------------------------------------------------- */

struct threads {
	uint16_t pc[PROG_MAX];
	uint32_t seen[PROG_MAX]; /* generation stamp per pc */
	unsigned n;
};

static void add(const struct prog *g, struct threads *t, uint32_t gen,
		unsigned pc, size_t at, size_t n)
{
	uint16_t stack[PROG_MAX];
	unsigned sp = 0;

	stack[sp++] = (uint16_t)pc;
	while (sp > 0) {
		const struct inst *in;

		pc = stack[--sp];
		if (t->seen[pc] == gen)
			continue;
		t->seen[pc] = gen;
		in = &g->code[pc];
		if (in->op == I_JMP) {
			stack[sp++] = in->x;
		} else if (in->op == I_SPLIT) {
			stack[sp++] = in->y;
			stack[sp++] = in->x;
		} else if (in->op == I_BOL) {
			if (at == 0)
				stack[sp++] = (uint16_t)(pc + 1);
		} else if (in->op == I_EOL) {
			if (at == n)
				stack[sp++] = (uint16_t)(pc + 1);
		} else {
			t->pc[t->n++] = (uint16_t)pc;
		}
	}
}

static bool step(const struct prog *g, const struct inst *in, unsigned c)
{
	switch (in->op) {
	case I_BYTE:
		return c == in->byte;
	case I_SET:
		return (g->sets[in->set][c / 8] >> (c % 8)) & 1;
	case I_ANY:
		return c != '\n' && (c & 0xc0) != 0x80;
	}
	return false;
}

static int run(const struct prog *g, const unsigned char *s, size_t n)
{
	struct threads lists[2];
	struct threads *cur = &lists[0], *next = &lists[1];
	uint32_t gen = 1;

	memset(lists, 0, sizeof(lists));
	add(g, cur, gen, 0, 0, n);
	for (size_t at = 0;; at++) {
		struct threads *tmp;

		next->n = 0;
		++gen;
		for (unsigned i = 0; i < cur->n; i++) {
			const struct inst *in = &g->code[cur->pc[i]];

			if (in->op == I_MATCH)
				return 1;
			if (at < n && step(g, in, s[at]))
				add(g, next, gen, cur->pc[i] + 1u, at + 1, n);
		}
		if (at >= n)
			return 0;
		add(g, next, gen, 0, at + 1, n); /* unanchored search */
		tmp = cur;
		cur = next;
		next = tmp;
	}
}

int policy_regex_search(const char *pat, size_t pat_n, const char *s, size_t n)
{
	static _Thread_local struct prog g;

	if (pat_n > POLICY_REGEX_BYTES_MAX || n > POLICY_STRING_BYTES_MAX)
		return -1;
	memset(&g, 0, offsetof(struct prog, sets));
	g.sets_n = 0;
	g.p = pat;
	g.len = pat_n;
	g.at = 0;
	g.depth = 0;
	g.bad = false;
	parse_alt(&g);
	if (g.at != pat_n)
		g.bad = true;
	emit(&g, I_MATCH, 0, 0);
	if (g.bad)
		return -1;
	return run(&g, (const unsigned char *)s, n);
}
