/* check.c - offline checks of heads and receipts, one named step at a time. */
#include "cli.h"

enum cli_exit cli_check_head(const char *cmd, const char *what,
			     const struct ledger_head *h, const uint8_t *pin)
{
	char have[2 * LEDGER_PK_BYTES + 1], want[2 * LEDGER_PK_BYTES + 1];
	enum mm_err err;

	if (pin && !ledger_ct_equal(h->key, pin, LEDGER_PK_BYTES)) {
		ledger_hex(h->key, LEDGER_PK_BYTES, have);
		ledger_hex(pin, LEDGER_PK_BYTES, want);
		cli_err(cmd,
			"node key check failed: %s is signed by node key %s, "
			"not the pinned node key %s",
			what, have, want);
		return CLI_FAIL;
	}
	err = ledger_head_verify(h, pin);
	if (err == MM_ERR_SIGNATURE) {
		cli_err(cmd,
			"signature check failed: %s's signature does not "
			"verify under its node key",
			what);
		return CLI_FAIL;
	}
	if (err != MM_OK) {
		cli_err(cmd, "head check failed: %s: %s", what,
			mm_strerror(err));
		return CLI_FAIL;
	}
	return CLI_OK;
}

enum cli_exit cli_check_receipt(const char *cmd, const struct ledger_receipt *r,
				const uint8_t *pin)
{
	unsigned long long index = r->index, size = r->head.size;
	enum cli_exit rc;
	enum mm_err err;

	rc = cli_check_head(cmd, "the receipt's head", &r->head, pin);
	if (rc != CLI_OK)
		return rc;
	if (r->index >= r->head.size) {
		cli_err(cmd,
			"inclusion check failed: index %llu is outside the "
			"head's tree of size %llu",
			index, size);
		return CLI_FAIL;
	}
	err = ledger_merkle_verify_inclusion(r->index, r->head.size, r->leaf,
					     r->proof, r->proof_n,
					     r->head.root);
	if (err != MM_OK) {
		cli_err(cmd,
			"inclusion check failed: the proof (%zu hashes) does "
			"not lead from the leaf at index %llu to the root of "
			"the head's tree of size %llu",
			r->proof_n, index, size);
		return CLI_FAIL;
	}
	/* The ledger's own verdict too, should it check more than we do. */
	err = ledger_receipt_verify(r, pin);
	if (err != MM_OK) {
		cli_err(cmd, "receipt check failed: %s", mm_strerror(err));
		return CLI_FAIL;
	}
	return CLI_OK;
}
