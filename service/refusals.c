/*
 * refusals.c - the one table of how a refused submission is answered
 * (refusals.h; docs/PROTOCOL.md section 6.3 prints it and
 * tests/test_protocol.c checks the two agree and that the node answers
 * so).
 *
 * The rule: what is wrong with the bytes themselves (decode, limit,
 * schema, signature, unknown_type) is 400 wherever it is found; a well
 * formed, signed transaction refused for what it asks or where it is
 * sent (stale and wrong_chain before queueing; denied, rejected, exists,
 * invalid, not_found by a type's apply) is 422; a full queue or a
 * stopping node is 503 (try again); a full storage map or disk is 507; the
 * node's own failures are 500 (503 when memory runs out before anything
 * was queued, since retrying may succeed).  invalid before queueing is
 * the Content-Type (415).
 */
#include "refusals.h"

static const struct mmd_refusal table[] = {
	{MM_ERR_NOMEM, 503, 500, false},    {MM_ERR_INVALID, 415, 422, true},
	{MM_ERR_DECODE, 400, 0, true},	    {MM_ERR_LIMIT, 400, 400, true},
	{MM_ERR_SCHEMA, 400, 400, true},    {MM_ERR_UNKNOWN_TYPE, 400, 0, true},
	{MM_ERR_SIGNATURE, 400, 0, true},   {MM_ERR_STALE, 422, 0, true},
	{MM_ERR_CRYPTO, 0, 0, false},	    {MM_ERR_KEY, 0, 0, false},
	{MM_ERR_IO, 0, 500, false},	    {MM_ERR_NOTFOUND, 0, 422, true},
	{MM_ERR_EXISTS, 0, 422, true},	    {MM_ERR_RANGE, 0, 0, false},
	{MM_ERR_PROOF, 0, 0, false},	    {MM_ERR_CORRUPT, 0, 500, false},
	{MM_ERR_MAP_FULL, 0, 507, true},    {MM_ERR_STORE, 0, 500, false},
	{MM_ERR_BUSY, 503, 0, true},	    {MM_ERR_CLOSED, 503, 0, true},
	{MM_ERR_DENIED, 422, 422, true},    {MM_ERR_REJECTED, 0, 422, true},
	{MM_ERR_WRONG_CHAIN, 422, 0, true}, {MM_ERR_NO_SPACE, 0, 507, false},
};

_Static_assert(sizeof(table) / sizeof(table[0]) == MM_ERR__COUNT - 1,
	       "one row per enum mm_err but MM_OK");

const struct mmd_refusal *mmd_refusals(size_t *n)
{
	*n = MM_ARRAY_LEN(table);
	return table;
}

int mmd_refusal_status(int err, enum mmd_phase phase)
{
	if (err <= MM_OK || err >= MM_ERR__COUNT)
		return 0;
	MM_ASSERT(table[err - 1].err == err);
	return phase == MMD_BEFORE_QUEUE ? table[err - 1].before
					 : table[err - 1].apply;
}
