/*
 * test_protocol_examples.c - every worked example of docs/PROTOCOL.md is
 * what the real code produces (issue 15).
 *
 *  - Section 12: each code block whose info string names an example
 *    ("text example=NAME") must equal, line for line, the block
 *    protocol_examples prints (from libledger, the JSON edge, the node's
 *    refusal table, tokens, market and policies); every block it prints
 *    must be in the doc; every run of 32 or more hex digits in section 12
 *    must be a value the program produced; and the hex column of each
 *    annotated signing message, joined, must be the message's bytes.
 *  - Section 2.3: each row of the decoder table (input, code, offset,
 *    message) is what ledger_decode answers.
 *
 * After a change that alters the examples (a new signing domain), run
 * protocol_examples --update docs/PROTOCOL.md (section 12 says so).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "testutil.h"

#define GEN_MAX	     (1u << 20)
#define BLOCKS_MAX   32
#define VALUES_MAX   96
#define NAME_MAX_LEN 48
#define HEX_RUN_MIN  32

struct named {
	char name[NAME_MAX_LEN];
	char *text; /* a block's lines, or a value's hex */
	bool seen;
};

static struct named BLOCKS[BLOCKS_MAX], VALUES[VALUES_MAX];
static size_t NBLOCKS, NVALUES;
static char *GEN; /* the program's whole output */

/* Runs protocol_examples and indexes its blocks and values (in GEN). */
static void generate(void)
{
	char *bin = tu_bin("tests/protocol_examples");
	char *const argv[] = {bin, NULL};
	struct tu_proc p;
	char *line;

	tu_spawn(&p, bin, false, argv);
	ck_assert_msg(p.status == 0, "protocol_examples failed (%d): %s",
		      p.status, p.err);
	GEN = p.out;
	p.out = NULL;
	tu_proc_free(&p);
	free(bin);
	NBLOCKS = NVALUES = 0;
	line = GEN;
	while (line && *line) {
		char *next = strchr(line, '\n');

		ck_assert_ptr_nonnull(next);
		*next = '\0';
		if (strncmp(line, "@@ block ", 9) == 0) {
			struct named *b = &BLOCKS[NBLOCKS++];
			char *end = strstr(next + 1, "@@ end\n");

			ck_assert_uint_le(NBLOCKS, BLOCKS_MAX);
			ck_assert_ptr_nonnull(end);
			snprintf(b->name, sizeof(b->name), "%s", line + 9);
			*end = '\0';
			b->text = next + 1;
			b->seen = false;
			next = end + 6;
		} else if (strncmp(line, "@@ value ", 9) == 0) {
			struct named *v = &VALUES[NVALUES++];
			char *sp = strchr(line + 9, ' ');

			ck_assert_uint_le(NVALUES, VALUES_MAX);
			ck_assert_ptr_nonnull(sp);
			*sp = '\0';
			snprintf(v->name, sizeof(v->name), "%s", line + 9);
			v->text = sp + 1;
		} else {
			ck_abort_msg("unexpected output: %.80s", line);
		}
		line = next + 1;
	}
	ck_assert_uint_gt(NBLOCKS, 10);
}

static struct named *find(struct named *set, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(set[i].name, name) == 0)
			return &set[i];
	return NULL;
}

/* docs/PROTOCOL.md (malloc'd) and its section "## N. ..." bounds. */
static char *doc_read(void)
{
	const char *src = getenv("MM_SOURCE_DIR");
	char path[1024];
	size_t n = 0;

	ck_assert_ptr_nonnull(src);
	snprintf(path, sizeof(path), "%s/docs/PROTOCOL.md", src);
	return (char *)tu_read_file(path, &n);
}

static char *section(char *doc, const char *heading, char **end)
{
	char *s = strstr(doc, heading);

	ck_assert_msg(s != NULL, "no '%s' in docs/PROTOCOL.md", heading);
	*end = strstr(s + 1, "\n## ");
	if (!*end)
		*end = s + strlen(s);
	return s;
}

/* The hex column of an annotated message: from each line until its
 * first blank line, the leading tokens that are all hex digits. */
static char *hex_column(const char *text)
{
	char *out = calloc(1, strlen(text) + 1);
	size_t n = 0;
	const char *p = text;

	ck_assert_ptr_nonnull(out);
	while (*p && *p != '\n') {
		const char *eol = strchr(p, '\n');

		for (;;) {
			size_t k;

			while (*p == ' ')
				p++;
			k = strspn(p, "0123456789abcdef");
			if (k == 0 || k % 2 || (p[k] != ' ' && p[k] != '\n'))
				break;
			memcpy(out + n, p, k);
			n += k;
			p += k;
		}
		p = eol ? eol + 1 : p + strlen(p);
	}
	return out;
}

/* Section 12's example blocks are the program's, both ways. */
START_TEST(section_12_blocks_are_generated)
{
	char *doc = doc_read(), *end, *s = section(doc, "\n## 12. ", &end);
	char *p = s;
	size_t found = 0;

	generate();
	while ((p = strstr(p, "\n```")) != NULL && p < end) {
		char *eol = strchr(p + 1, '\n'), *ex, *close,
		     name[NAME_MAX_LEN];
		struct named *b;

		ck_assert_ptr_nonnull(eol);
		ex = strstr(p + 1, " example=");
		if (!ex || ex > eol) {
			p = strstr(eol,
				   "\n```"); /* skip to its closing fence */
			ck_assert_ptr_nonnull(p);
			p += 4;
			continue;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(eol - ex - 9),
			 ex + 9);
		b = find(BLOCKS, NBLOCKS, name);
		ck_assert_msg(b,
			      "section 12 shows example=%s, which "
			      "protocol_examples does not make",
			      name);
		close = strstr(eol, "\n```");
		ck_assert_ptr_nonnull(close);
		ck_assert_msg(
			(size_t)(close + 1 - (eol + 1)) == strlen(b->text) &&
				strncmp(eol + 1, b->text, strlen(b->text)) == 0,
			"section 12's example=%s is not what the code "
			"makes now (protocol_examples --update "
			"docs/PROTOCOL.md); the code makes:\n%s",
			name, b->text);
		b->seen = true;
		found++;
		p = close + 4;
	}
	for (size_t i = 0; i < NBLOCKS; i++)
		ck_assert_msg(BLOCKS[i].seen, "section 12 lacks example=%s",
			      BLOCKS[i].name);
	ck_assert_uint_eq(found, NBLOCKS);
	ck_assert_msg(
		strstr(s, "protocol_examples --update docs/PROTOCOL.md") &&
			strstr(s, "protocol_examples --update") < end,
		"section 12 must say how to regenerate it");
	free(doc);
	free(GEN);
}
END_TEST

/* No hex value in section 12 that the code did not produce. */
START_TEST(section_12_hex_is_generated)
{
	char *doc = doc_read(), *end, *s = section(doc, "\n## 12. ", &end);
	size_t runs = 0;

	generate();
	for (char *p = s; p < end;) {
		size_t k = strspn(p, "0123456789abcdef");
		bool ok = false;

		if (k < HEX_RUN_MIN) {
			p += k ? k : 1;
			continue;
		}
		runs++;
		for (size_t i = 0; i < NVALUES && !ok; i++) {
			char save = p[k];

			p[k] = '\0';
			ok = strstr(VALUES[i].text, p) != NULL;
			p[k] = save;
		}
		ck_assert_msg(ok,
			      "section 12 holds %.*s, which protocol_examples "
			      "does not produce",
			      (int)k, p);
		p += k;
	}
	ck_assert_uint_gt(runs, 40);
	free(doc);
	free(GEN);
}
END_TEST

/* The annotated signing messages' hex, joined, is the message. */
START_TEST(annotated_messages_are_the_bytes)
{
	static const char *const names[] = {"attest-message", "block2-message"};
	char *doc = doc_read(), *end, *s = section(doc, "\n## 12. ", &end);

	generate();
	for (size_t i = 0; i < MM_ARRAY_LEN(names); i++) {
		char fence[64], *b, *col;
		struct named *v = find(VALUES, NVALUES, names[i]);

		snprintf(fence, sizeof(fence), " example=%s\n", names[i]);
		b = strstr(s, fence);
		ck_assert_msg(b && b < end, "no example=%s", names[i]);
		col = hex_column(b + strlen(fence));
		ck_assert_ptr_nonnull(v);
		ck_assert_msg(strcmp(col, v->text) == 0,
			      "%s: the hex column is\n%s\nthe message is\n%s",
			      names[i], col, v->text);
		free(col);
	}
	free(doc);
	free(GEN);
}
END_TEST

/* Section 2.3's table is what ledger_decode answers. */
START_TEST(decoder_table_is_the_decoders)
{
	char *doc = doc_read(), *p = strstr(doc, "<!-- decoder-examples -->");
	size_t rows = 0;

	ck_assert_ptr_nonnull(p);
	p = strchr(p, '\n') + 1;
	p = strchr(p, '\n') + 1; /* the header */
	p = strchr(p, '\n') + 1; /* the separator */
	while (*p == '|') {
		char *eol = strchr(p, '\n'), in[64], code[32], msg[256];
		unsigned off = 0;
		struct ledger_doc *d = NULL;
		struct mm_diag diag = {0};
		uint8_t *bytes;
		size_t n = 0;
		int err;

		*eol = '\0';
		ck_assert_msg(sscanf(p,
				     "| `%63[0-9a-f]` | %31[a-z_] | %u | "
				     "%255[^|]|",
				     in, code, &off, msg) == 4,
			      "a decoder row: %s", p);
		for (size_t k = strlen(msg); k > 0 && msg[k - 1] == ' '; k--)
			msg[k - 1] = '\0';
		bytes = tu_unhex(in, &n);
		err = ledger_decode(bytes, n, &d, &diag);
		ck_assert_msg(err != MM_OK, "%s decodes", in);
		ck_assert_msg(strcmp(mm_errcode(err), code) == 0 &&
				      diag.offset == off &&
				      strcmp(diag.msg, msg) == 0,
			      "%s: the doc says %s at %u \"%s\"; ledger_decode "
			      "says %s at %zu \"%s\"",
			      in, code, off, msg, mm_errcode(err), diag.offset,
			      diag.msg);
		ledger_doc_free(d);
		free(bytes);
		rows++;
		p = eol + 1;
	}
	ck_assert_uint_ge(rows, 15);
	free(doc);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("protocol_examples");
	TCase *tc = tcase_create("examples");

	tcase_add_test(tc, section_12_blocks_are_generated);
	tcase_add_test(tc, section_12_hex_is_generated);
	tcase_add_test(tc, annotated_messages_are_the_bytes);
	tcase_add_test(tc, decoder_table_is_the_decoders);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
