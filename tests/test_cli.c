/* test_cli.c - the medmarket command: key files and IDs, usage errors, and
 * end to end against a real medmarketd (attest, receipts, proofs, verify). */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "ledger/ledger.h"
#include "edge/edge.h"
#include "testutil.h"

#define ARGS_MAX	32  /* arguments of one run */
#define LABEL_BYTES_MAX 256 /* the CLI's --label limit */

static char *tmp; /* this test's directory (checked fixture) */

static void setup(void)
{
	tmp = tu_tmpdir();
}

static void teardown(void)
{
	tu_rmtree(tmp);
	free(tmp);
	tmp = NULL;
}

/* ------------------------------------------------------------------ */
/* Running programs.                                                   */

/* Runs a tool from PATH (openssl) and requires exit status 0. */
static void tool(char *prog, ...)
{
	char *argv[ARGS_MAX + 2];
	struct tu_proc r;
	size_t n = 0;
	va_list ap;

	argv[n++] = prog;
	va_start(ap, prog);
	for (char *a = va_arg(ap, char *); a; a = va_arg(ap, char *)) {
		ck_assert_uint_lt(n, ARGS_MAX);
		argv[n++] = a;
	}
	va_end(ap);
	argv[n] = NULL;
	tu_spawn(&r, prog, true, argv);
	ck_assert_msg(r.status == 0, "%s failed: %s", prog, r.err);
	free(r.out);
	free(r.err);
}

/* Exit status want, and stderr is one line containing each needle. */
static void expect_fail(const struct tu_proc *r, int want, const char *needle1,
			const char *needle2)
{
	const char *nl = strchr(r->err, '\n');

	ck_assert_msg(r->status == want, "exit %d, want %d; stderr: %s",
		      r->status, want, r->err);
	ck_assert_msg(nl && nl[1] == '\0', "stderr is not one line: %s",
		      r->err);
	ck_assert_msg(strstr(r->err, needle1), "'%s' not in: %s", needle1,
		      r->err);
	ck_assert_msg(!needle2 || strstr(r->err, needle2), "'%s' not in: %s",
		      needle2, r->err);
}

static void expect_ok(const struct tu_proc *r)
{
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
}

/* ------------------------------------------------------------------ */
/* Files.                                                              */

static char *path_in(const char *name)
{
	char *p = NULL;

	ck_assert_int_gt(asprintf(&p, "%s/%s", tmp, name), 0);
	return p;
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static void write_json(const char *path, const json_t *j)
{
	ck_assert_int_eq(json_dump_file(j, path, JSON_INDENT(2)), 0);
}

static json_t *load_json(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);

	ck_assert_msg(j != NULL, "%s: %s", path, e.text);
	return j;
}

static void load_receipt(const char *path, struct ledger_receipt *r)
{
	struct mm_diag diag = {0};
	json_t *j = load_json(path);

	ck_assert_msg(edge_receipt_from_json(j, r, &diag) == MM_OK, "%s: %s",
		      path, diag.msg);
	json_decref(j);
}

static void load_head(const char *path, struct ledger_head *h)
{
	struct mm_diag diag = {0};
	json_t *j = load_json(path);

	ck_assert_msg(edge_head_from_json(j, h, &diag) == MM_OK, "%s: %s", path,
		      diag.msg);
	json_decref(j);
}

static void save_head(const char *path, const struct ledger_head *h)
{
	json_t *j = edge_head_json(h);

	ck_assert_ptr_nonnull(j);
	write_json(path, j);
	json_decref(j);
}

/* The hash ID of the public key in a PEM file, as hex. */
static void pem_id_hex(const char *path, char hex[2 * LEDGER_HASH_BYTES + 1])
{
	uint8_t pk[LEDGER_PK_BYTES], id[LEDGER_HASH_BYTES];
	struct mm_diag diag = {0};

	ck_assert_int_eq(ledger_pubkey_load(path, pk, &diag), MM_OK);
	ledger_sha256(pk, sizeof(pk), id); /* the definition, directly */
	ledger_hex(id, sizeof(id), hex);
}

static void pem_pk_hex(const char *path, char hex[2 * LEDGER_PK_BYTES + 1])
{
	uint8_t pk[LEDGER_PK_BYTES];
	struct mm_diag diag = {0};

	ck_assert_int_eq(ledger_pubkey_load(path, pk, &diag), MM_OK);
	ledger_hex(pk, sizeof(pk), hex);
}

/* The value of "name: value" in human output, copied into out. */
static void field(const char *text, const char *name, char *out, size_t n)
{
	const char *p = strstr(text, name);
	size_t len;

	ck_assert_msg(p != NULL, "'%s' not in: %s", name, text);
	p += strlen(name);
	p += strspn(p, " ");
	len = strcspn(p, "\n");
	ck_assert_uint_lt(len, n);
	memcpy(out, p, len);
	out[len] = '\0';
}

/* ------------------------------------------------------------------ */
/* keygen and id.                                                      */

START_TEST(keygen_writes_0600_pkcs8_and_refuses_overwrite)
{
	char *key = path_in("k.pem");
	char id[2 * LEDGER_HASH_BYTES + 1], pk[2 * LEDGER_PK_BYTES + 1];
	char got[128];
	uint8_t *before, *after;
	size_t n1, n2;
	struct stat st;
	struct tu_proc r;

	tu_medmarket(&r, "keygen", "--out", key, NULL);
	expect_ok(&r);
	ck_assert_int_eq(stat(key, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	before = tu_read_file(key, &n1);
	ck_assert_msg(strncmp((char *)before, "-----BEGIN PRIVATE KEY-----\n",
			      28) == 0,
		      "not PKCS#8 PEM");
	pem_id_hex(key, id);
	pem_pk_hex(key, pk);
	field(r.out, "id:", got, sizeof(got));
	ck_assert_str_eq(got, id);
	field(r.out, "public key:", got, sizeof(got));
	ck_assert_str_eq(got, pk);
	tu_proc_free(&r);

	tu_medmarket(&r, "keygen", "--out", key, NULL);
	expect_fail(&r, 1, key, "exists");
	after = tu_read_file(key, &n2);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(before, after, n1);
	tu_proc_free(&r);
	free(before);
	free(after);
	free(key);
}
END_TEST

START_TEST(keygen_json_and_id_agree)
{
	char *key = path_in("k.pem");
	char id[2 * LEDGER_HASH_BYTES + 1];
	json_t *j = NULL;
	struct tu_proc r;

	tu_medmarket(&r, "keygen", "--json", "--out", key, NULL);
	expect_ok(&r);
	pem_id_hex(key, id);
	j = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "id")), id);
	json_decref(j);
	tu_proc_free(&r);

	tu_medmarket(&r, "id", "--json", key, NULL);
	expect_ok(&r);
	j = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "id")), id);
	json_decref(j);
	tu_proc_free(&r);
	free(key);
}
END_TEST

START_TEST(id_of_openssl_private_and_public_keys)
{
	char *priv = path_in("o.pem"), *pub = path_in("o.pub");
	char id[2 * LEDGER_HASH_BYTES + 1], got[128];
	struct tu_proc r;

	tool("openssl", "genpkey", "-algorithm", "ed25519", "-out", priv, NULL);
	tool("openssl", "pkey", "-in", priv, "-pubout", "-out", pub, NULL);
	pem_id_hex(priv, id);

	tu_medmarket(&r, "id", priv, NULL);
	expect_ok(&r);
	field(r.out, "id:", got, sizeof(got));
	ck_assert_str_eq(got, id);
	tu_proc_free(&r);

	tu_medmarket(&r, "id", pub, NULL);
	expect_ok(&r);
	field(r.out, "id:", got, sizeof(got));
	ck_assert_str_eq(got, id);
	tu_proc_free(&r);
	free(priv);
	free(pub);
}
END_TEST

START_TEST(id_refuses_missing_rsa_and_garbage_files)
{
	char *missing = path_in("missing.pem"), *rsa = path_in("rsa.pem");
	char *junk = path_in("junk.pem");
	struct tu_proc r;

	tool("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
	     "rsa_keygen_bits:2048", "-out", rsa, NULL);
	write_file(junk, "this is not a key\n", 18);

	tu_medmarket(&r, "id", missing, NULL);
	expect_fail(&r, 1, missing, NULL);
	ck_assert_str_eq(r.out, "");
	tu_proc_free(&r);
	tu_medmarket(&r, "id", rsa, NULL);
	expect_fail(&r, 1, rsa, NULL);
	tu_proc_free(&r);
	tu_medmarket(&r, "id", junk, NULL);
	expect_fail(&r, 1, junk, NULL);
	tu_proc_free(&r);
	free(missing);
	free(rsa);
	free(junk);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Usage.                                                              */

START_TEST(usage_errors_exit_2)
{
	char *key = path_in("k.pem");
	struct tu_proc r;

	tu_medmarket(&r, NULL);
	expect_fail(&r, 2, "missing command", NULL);
	tu_proc_free(&r);
	tu_medmarket(&r, "frobnicate", NULL);
	expect_fail(&r, 2, "unknown command", "frobnicate");
	tu_proc_free(&r);
	tu_medmarket(&r, "keygen", NULL);
	expect_fail(&r, 2, "--out", NULL);
	tu_proc_free(&r);
	tu_medmarket(&r, "keygen", "--out", key, "--bogus", NULL);
	expect_fail(&r, 2, "unknown option", "--bogus");
	ck_assert_int_ne(access(key, F_OK), 0); /* nothing written */
	tu_proc_free(&r);
	tu_medmarket(&r, "keygen", "--out", NULL);
	expect_fail(&r, 2, "--out", "needs a value");
	tu_proc_free(&r);
	tu_medmarket(&r, "id", NULL);
	expect_fail(&r, 2, "key file", NULL);
	tu_proc_free(&r);
	tu_medmarket(&r, "attest", "--key", key, "--label", "x", "--file", key,
		     NULL);
	expect_fail(&r, 2, "--server", NULL);
	tu_proc_free(&r);
	tu_medmarket(&r, "proof", NULL);
	expect_fail(&r, 2, "verify", NULL);
	tu_proc_free(&r);
	tu_medmarket(&r, "proof", "verify", NULL);
	expect_fail(&r, 2, "--receipt", NULL);
	tu_proc_free(&r);
	tu_medmarket(&r, "proof", "verify", "--receipt", key, "--head", key,
		     NULL);
	expect_fail(&r, 2, "--server", NULL);
	tu_proc_free(&r);
	tu_medmarket(&r, "verify", NULL);
	expect_fail(&r, 2, "--data", NULL);
	tu_proc_free(&r);
	tu_medmarket(&r, "verify", "--data", tmp, "--threads", "many", NULL);
	expect_fail(&r, 2, "--threads", NULL);
	tu_proc_free(&r);
	tu_medmarket(&r, "head", "--server", "http://127.0.0.1:1", "--ca-file",
		     key, NULL);
	expect_fail(&r, 2, "https:// servers only", NULL);
	tu_proc_free(&r);
	tu_medmarket(&r, "head", "--server", "127.0.0.1:1", "--timeout-s", "0",
		     NULL);
	expect_fail(&r, 2, "--timeout-s", NULL);
	tu_proc_free(&r);
	free(key);
}
END_TEST

START_TEST(attest_checks_the_label)
{
	char *file = path_in("data.txt");
	char label[LABEL_BYTES_MAX + 2];
	struct tu_proc r;

	write_file(file, "x", 1);
	memset(label, 'a', sizeof(label) - 1);
	label[LABEL_BYTES_MAX + 1] = '\0';
	tu_medmarket(&r, "attest", "--key", file, "--file", file, "--server",
		     "http://127.0.0.1:1", "--label", label, NULL);
	expect_fail(&r, 2, "--label", NULL);
	tu_proc_free(&r);
	tu_medmarket(&r, "attest", "--key", file, "--file", file, "--server",
		     "http://127.0.0.1:1", "--label", "bad \xc3\x28 utf8",
		     NULL);
	expect_fail(&r, 2, "--label", "UTF-8");
	tu_proc_free(&r);
	tu_medmarket(&r, "attest", "--key", file, "--file", file, "--server",
		     "http://127.0.0.1:1", "--label", "", NULL);
	expect_fail(&r, 2, "--label", NULL);
	tu_proc_free(&r);
	free(file);
}
END_TEST

START_TEST(help_prints_usage)
{
	static const char *const cmds[] = {"keygen", "id",    "attest",
					   "head",   "proof", "verify"};
	struct tu_proc r;

	tu_medmarket(&r, "help", NULL);
	expect_ok(&r);
	for (size_t i = 0; i < MM_ARRAY_LEN(cmds); i++)
		ck_assert_ptr_nonnull(strstr(r.out, cmds[i]));
	tu_proc_free(&r);
	for (size_t i = 0; i < MM_ARRAY_LEN(cmds); i++) {
		tu_medmarket(&r, cmds[i], "--help", NULL);
		expect_ok(&r);
		ck_assert_msg(strncmp(r.out, "usage: medmarket ", 17) == 0,
			      "%s --help: %s", cmds[i], r.out);
		ck_assert_ptr_nonnull(strstr(r.out, cmds[i]));
		tu_proc_free(&r);
	}
}
END_TEST

START_TEST(unreachable_server_fails_and_keeps_no_receipt)
{
	char *key = path_in("k.pem"), *file = path_in("d.txt");
	char *out = path_in("r.json");
	struct tu_proc r;

	write_file(file, "x", 1);
	tu_medmarket(&r, "keygen", "--out", key, NULL);
	expect_ok(&r);
	tu_proc_free(&r);
	/* Port 1 on loopback: nothing listens there. */
	tu_medmarket(&r, "attest", "--key", key, "--label", "l", "--file", file,
		     "--server", "http://127.0.0.1:1", "--out", out,
		     "--timeout-s", "5", NULL);
	expect_fail(&r, 1, "--server", "127.0.0.1:1");
	ck_assert_int_ne(access(out, F_OK), 0);
	tu_proc_free(&r);
	free(key);
	free(file);
	free(out);
}
END_TEST

/* ------------------------------------------------------------------ */
/* End to end.                                                         */

/* A new key in tmp; returns its path. */
static char *new_key(const char *name)
{
	char *key = path_in(name);
	struct tu_proc r;

	tu_medmarket(&r, "keygen", "--out", key, NULL);
	expect_ok(&r);
	tu_proc_free(&r);
	return key;
}

/* Attests a fresh file of n bytes (seeded content) and saves the
 * receipt at out. */
static void attest(const struct tu_daemon *d, const char *key, size_t n,
		   unsigned seed, const char *out)
{
	char *file = path_in("attested.bin");
	uint8_t *data = malloc(n);
	uint8_t digest[LEDGER_HASH_BYTES];
	char hex[2 * LEDGER_HASH_BYTES + 1], got[128];
	struct tu_proc r;

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 31u + seed * 7u + (i >> 9));
	write_file(file, data, n);
	ledger_sha256(data, n, digest);
	ledger_hex(digest, sizeof(digest), hex);
	tu_medmarket(&r, "attest", "--key", key, "--label", "trial site export",
		     "--file", file, "--server", d->url, "--out", out, NULL);
	expect_ok(&r);
	field(r.out, "digest:", got, sizeof(got));
	ck_assert_str_eq(got, hex);
	tu_proc_free(&r);
	free(data);
	free(file);
}

static void node_pk(const struct tu_daemon *d, uint8_t pk[LEDGER_PK_BYTES],
		    char hex[2 * LEDGER_PK_BYTES + 1])
{
	struct mm_diag diag = {0};

	ck_assert_int_eq(ledger_pubkey_load(d->node_pem, pk, &diag), MM_OK);
	ledger_hex(pk, LEDGER_PK_BYTES, hex);
}

START_TEST(attest_saves_a_receipt_that_verifies)
{
	char *key = new_key("k.pem"), *rcpt = path_in("r.json");
	char nk_hex[2 * LEDGER_PK_BYTES + 1];
	uint8_t nk[LEDGER_PK_BYTES];
	struct ledger_receipt rec;
	struct tu_daemon d;
	uint8_t *before, *after;
	size_t n1, n2;
	struct tu_proc r;

	tu_daemon_start(&d, NULL);
	node_pk(&d, nk, nk_hex);
	/* Larger than the CLI's read chunk: the digest is streamed. */
	attest(&d, key, 200000, 1, rcpt);
	load_receipt(rcpt, &rec);
	ck_assert_int_eq(ledger_receipt_verify(&rec, NULL), MM_OK);
	ck_assert_int_eq(ledger_receipt_verify(&rec, nk), MM_OK);
	ck_assert_uint_ge(rec.index, 1); /* after genesis */

	/* --out never overwrites, and nothing is submitted then. */
	before = tu_read_file(rcpt, &n1);
	tu_medmarket(&r, "attest", "--key", key, "--label", "again", "--file",
		     key, "--server", d.url, "--out", rcpt, NULL);
	expect_fail(&r, 1, rcpt, "exists");
	after = tu_read_file(rcpt, &n2);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(before, after, n1);
	tu_proc_free(&r);

	/* --json prints a receipt for the node's key. */
	tu_medmarket(&r, "attest", "--key", key, "--label", "json", "--file",
		     key, "--server", d.url, "--json", "--node-key", nk_hex,
		     NULL);
	expect_ok(&r);
	write_file(rcpt, r.out, strlen(r.out)); /* replaces: fine here */
	load_receipt(rcpt, &rec);
	ck_assert_int_eq(ledger_receipt_verify(&rec, nk), MM_OK);
	tu_proc_free(&r);
	tu_daemon_stop(&d);
	free(before);
	free(after);
	free(key);
	free(rcpt);
}
END_TEST

/* The hash of h's canonical encoding (edge_head_from_json checks it). */
static void rehash(struct ledger_head *h)
{
	struct ledger_buf b;

	ledger_buf_init(&b, 512);
	ck_assert_int_eq(ledger_head_encode(h, &b), MM_OK);
	ledger_sha256(b.p, b.len, h->hash);
	ledger_buf_release(&b);
}

/* Writes a copy of the receipt at in to out with one change that keeps
 * the JSON well-formed, so the offline checks are what must catch it. */
static void tamper(const char *in, const char *out, const char *what)
{
	struct ledger_receipt rec;
	json_t *j = NULL;

	load_receipt(in, &rec);
	if (strcmp(what, "proof") == 0) {
		ck_assert_uint_gt(rec.proof_n, 0);
		rec.proof[0][2] ^= 0x10;
	} else if (strcmp(what, "index") == 0) {
		rec.index ^= 1;
	} else {
		rec.head.root[0] ^= 0x01;
		rehash(&rec.head);
	}
	j = edge_receipt_json(&rec);
	ck_assert_ptr_nonnull(j);
	write_json(out, j);
	json_decref(j);
}

/* Writes the receipt at in with head.root edited in the JSON alone. */
static void tamper_json_root(const char *in, const char *out)
{
	json_t *j = load_json(in);
	json_t *head = json_object_get(j, "head");
	char hex[2 * LEDGER_HASH_BYTES + 1];

	snprintf(hex, sizeof(hex), "%s",
		 json_string_value(json_object_get(head, "root")));
	hex[0] = hex[0] == 'a' ? 'b' : 'a';
	json_object_set_new(head, "root", json_string(hex));
	write_json(out, j);
	json_decref(j);
}

START_TEST(proof_verify_pins_and_catches_tampering)
{
	char *key = new_key("k.pem"), *rcpt = path_in("r.json");
	char *bad = path_in("bad.json"), *other = new_key("other.pem");
	char nk_hex[2 * LEDGER_PK_BYTES + 1],
		other_hex[2 * LEDGER_PK_BYTES + 1];
	uint8_t nk[LEDGER_PK_BYTES];
	struct tu_daemon d;
	struct tu_proc r;

	tu_daemon_start(&d, NULL);
	node_pk(&d, nk, nk_hex);
	pem_pk_hex(other, other_hex);
	attest(&d, key, 1000, 1, rcpt);
	attest(&d, key, 1000, 2, bad); /* the tree now has >= 3 leaves */
	unlink(bad);
	tu_daemon_stop(&d);

	tu_medmarket(&r, "proof", "verify", "--receipt", rcpt, NULL);
	expect_ok(&r);
	ck_assert_ptr_nonnull(strstr(r.out, "not pinned"));
	ck_assert_ptr_nonnull(strstr(r.out, nk_hex));
	tu_proc_free(&r);
	tu_medmarket(&r, "proof", "verify", "--receipt", rcpt, "--node-key",
		     nk_hex, NULL);
	expect_ok(&r);
	ck_assert_ptr_nonnull(strstr(r.out, "pinned node key"));
	tu_proc_free(&r);
	tu_medmarket(&r, "proof", "verify", "--receipt", rcpt, "--node-key",
		     other_hex, NULL);
	expect_fail(&r, 1, "node key check failed", other_hex);
	tu_proc_free(&r);
	tu_medmarket(&r, "proof", "verify", "--receipt", rcpt,
		     "--node-key-file", other, NULL);
	expect_fail(&r, 1, "node key check failed", NULL);
	tu_proc_free(&r);

	tamper(rcpt, bad, "proof");
	tu_medmarket(&r, "proof", "verify", "--receipt", bad, NULL);
	expect_fail(&r, 1, "inclusion check failed", NULL);
	tu_proc_free(&r);
	unlink(bad);
	tamper(rcpt, bad, "index");
	tu_medmarket(&r, "proof", "verify", "--receipt", bad, NULL);
	expect_fail(&r, 1, "inclusion check failed", NULL);
	tu_proc_free(&r);
	unlink(bad);
	tamper(rcpt, bad, "root");
	tu_medmarket(&r, "proof", "verify", "--receipt", bad, NULL);
	expect_fail(&r, 1, "signature check failed", NULL);
	tu_proc_free(&r);
	tamper_json_root(rcpt, bad);
	tu_medmarket(&r, "proof", "verify", "--receipt", bad, NULL);
	expect_fail(&r, 1, bad, "hash");
	tu_proc_free(&r);
	write_file(bad, "{\"index\": 1", 11);
	tu_medmarket(&r, "proof", "verify", "--receipt", bad, NULL);
	expect_fail(&r, 1, bad, "JSON");
	tu_proc_free(&r);
	free(key);
	free(rcpt);
	free(bad);
	free(other);
}
END_TEST

START_TEST(proof_verify_pins_the_node_key_file)
{
	char *key = new_key("k.pem"), *rcpt = path_in("r.json");
	struct tu_daemon d;
	struct tu_proc r;

	tu_daemon_start(&d, NULL);
	attest(&d, key, 10, 1, rcpt);
	tu_medmarket(&r, "proof", "verify", "--receipt", rcpt,
		     "--node-key-file", d.node_pem, NULL);
	expect_ok(&r);
	ck_assert_ptr_nonnull(strstr(r.out, "pinned node key"));
	tu_proc_free(&r);
	tu_daemon_stop(&d);
	free(key);
	free(rcpt);
}
END_TEST

/* A head like h but with another root, validly signed by the node key:
 * the documented signing format, rebuilt here with the public encoder. */
static void forge_head(const char *node_pem, struct ledger_head *h)
{
	static const char prefix[] = "medmarket/block/v1";
	struct ledger_key *k = NULL;
	struct mm_diag diag = {0};
	struct ledger_buf b;

	ck_assert_int_eq(ledger_key_load(node_pem, &k, &diag), MM_OK);
	h->root[0] ^= 0x01;
	ledger_buf_init(&b, 512);
	ledger_buf_add(&b, prefix, sizeof(prefix)); /* with its NUL */
	ledger_enc_map(&b, 6);
	ledger_enc_cstr(&b, "height");
	ledger_enc_uint(&b, h->height);
	ledger_enc_cstr(&b, "key");
	ledger_enc_bin(&b, h->key, LEDGER_PK_BYTES);
	ledger_enc_cstr(&b, "prev");
	ledger_enc_bin(&b, h->prev, LEDGER_HASH_BYTES);
	ledger_enc_cstr(&b, "root");
	ledger_enc_bin(&b, h->root, LEDGER_HASH_BYTES);
	ledger_enc_cstr(&b, "size");
	ledger_enc_uint(&b, h->size);
	ledger_enc_cstr(&b, "time");
	ck_assert_int_eq(ledger_enc_uint(&b, h->time_ms), MM_OK);
	ledger_sign(k, b.p, b.len, h->sig);
	ledger_buf_release(&b);
	rehash(h);
	ledger_key_free(k);
	ck_assert_int_eq(ledger_head_verify(h, NULL), MM_OK);
}

START_TEST(proof_verify_proves_consistency_with_a_later_head)
{
	char *key = new_key("k.pem"), *r1 = path_in("r1.json");
	char *r3 = path_in("r3.json"), *later = path_in("later.json");
	char *bad = path_in("bad.json");
	struct ledger_receipt rec1, rec3;
	struct ledger_head h;
	struct tu_daemon d;
	struct tu_proc r;

	tu_daemon_start(&d, NULL);
	attest(&d, key, 100, 1, r1);
	attest(&d, key, 100, 2, bad);
	attest(&d, key, 100, 3, r3);
	load_receipt(r1, &rec1);
	load_receipt(r3, &rec3);
	tu_medmarket(&r, "head", "--server", d.url, "--out", later, NULL);
	expect_ok(&r);
	tu_proc_free(&r);
	load_head(later, &h);
	ck_assert_int_eq(ledger_head_verify(&h, rec1.head.key), MM_OK);
	ck_assert_uint_gt(h.size, rec1.head.size);

	tu_medmarket(&r, "proof", "verify", "--receipt", r1, "--head", later,
		     "--server", d.url, NULL);
	expect_ok(&r);
	ck_assert_ptr_nonnull(strstr(r.out, "consistency:"));
	tu_proc_free(&r);

	/* Validly signed, same size, another root: not an extension. */
	forge_head(d.node_pem, &h);
	unlink(bad);
	save_head(bad, &h);
	tu_medmarket(&r, "proof", "verify", "--receipt", r1, "--head", bad,
		     "--server", d.url, NULL);
	expect_fail(&r, 1, "consistency check failed", NULL);
	tu_proc_free(&r);

	/* A "later" head older than the receipt's. */
	unlink(bad);
	save_head(bad, &rec1.head);
	tu_medmarket(&r, "proof", "verify", "--receipt", r3, "--head", bad,
		     "--server", d.url, NULL);
	expect_fail(&r, 1, "consistency check failed", "smaller");
	tu_proc_free(&r);

	/* The receipt's own head: consistent with zero hashes. */
	unlink(bad);
	save_head(bad, &rec3.head);
	tu_medmarket(&r, "proof", "verify", "--receipt", r3, "--head", bad,
		     "--server", d.url, NULL);
	expect_ok(&r);
	tu_proc_free(&r);
	tu_daemon_stop(&d);
	free(key);
	free(r1);
	free(r3);
	free(later);
	free(bad);
}
END_TEST

START_TEST(head_reports_http_errors)
{
	char *url = NULL;
	struct tu_daemon d;
	struct tu_proc r;

	tu_daemon_start(&d, NULL);
	ck_assert_int_gt(asprintf(&url, "%s/no/such/prefix", d.url), 0);
	tu_medmarket(&r, "head", "--server", url, NULL);
	expect_fail(&r, 1, "404", NULL);
	tu_proc_free(&r);
	tu_medmarket(&r, "head", "--server", d.url, "--json", NULL);
	expect_ok(&r);
	ck_assert_ptr_nonnull(strstr(r.out, "\"root\""));
	tu_proc_free(&r);
	tu_daemon_stop(&d);
	free(url);
}
END_TEST

START_TEST(verify_checks_the_daemon_directory)
{
	char *key = new_key("k.pem"), *rcpt = path_in("r.json");
	char *missing = path_in("nope");
	struct tu_daemon d;
	json_t *j = NULL;
	struct tu_proc r;

	tu_daemon_start(&d, NULL);
	attest(&d, key, 10, 1, rcpt);
	unlink(rcpt);
	attest(&d, key, 10, 2, rcpt);
	tu_daemon_stop_keep(&d);

	tu_medmarket(&r, "verify", "--data", d.dir, "--threads", "2", NULL);
	expect_ok(&r);
	ck_assert_ptr_nonnull(strstr(r.out, "\nOK\n"));
	tu_proc_free(&r);
	tu_medmarket(&r, "verify", "--data", d.dir, "--json", NULL);
	expect_ok(&r);
	j = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert(json_is_true(json_object_get(j, "ok")));
	ck_assert_int_eq(json_integer_value(json_object_get(j, "entries")), 3);
	json_decref(j);
	tu_proc_free(&r);

	tu_medmarket(&r, "verify", "--data", missing, NULL);
	expect_fail(&r, 1, missing, NULL);
	tu_proc_free(&r);
	tu_daemon_restart(&d, NULL);
	tu_daemon_stop(&d);
	free(key);
	free(rcpt);
	free(missing);
}
END_TEST

static Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *local = tcase_create("local");
	TCase *e2e = tcase_create("end_to_end");

	tcase_add_checked_fixture(local, setup, teardown);
	tcase_set_timeout(local, 60);
	tcase_add_test(local, keygen_writes_0600_pkcs8_and_refuses_overwrite);
	tcase_add_test(local, keygen_json_and_id_agree);
	tcase_add_test(local, id_of_openssl_private_and_public_keys);
	tcase_add_test(local, id_refuses_missing_rsa_and_garbage_files);
	tcase_add_test(local, usage_errors_exit_2);
	tcase_add_test(local, attest_checks_the_label);
	tcase_add_test(local, help_prints_usage);
	tcase_add_test(local, unreachable_server_fails_and_keeps_no_receipt);
	suite_add_tcase(s, local);

	tcase_add_checked_fixture(e2e, setup, teardown);
	tcase_set_timeout(e2e, 120);
	tcase_add_test(e2e, attest_saves_a_receipt_that_verifies);
	tcase_add_test(e2e, proof_verify_pins_and_catches_tampering);
	tcase_add_test(e2e, proof_verify_pins_the_node_key_file);
	tcase_add_test(e2e, proof_verify_proves_consistency_with_a_later_head);
	tcase_add_test(e2e, head_reports_http_errors);
	tcase_add_test(e2e, verify_checks_the_daemon_directory);
	suite_add_tcase(s, e2e);
	return s;
}

int main(void)
{
	return tu_run(cli_suite());
}
