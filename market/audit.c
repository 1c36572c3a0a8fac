/*
 * audit.c - market_audit: the marketplace's stored state checked against
 * its invariants, in debug builds after every block (registered by
 * market_open) and by `medmarket verify` (market_audit_dir).
 *
 * Design note.  The state can only be read by key, so the audit walks it
 * from its roots: the config, the request listing, each request's
 * contributions by ordinal, the releases those contributions name (every
 * proposed and every approved release: a rejected one gives its
 * contributions back and is reachable no more, but it holds no money),
 * their reviews by configured steward, payouts and disclosures by
 * position, and the request's tokens escrow with its movements.  Each
 * invariant has a class word, which starts the diagnostic after
 * "market audit: ", then "request N" (its ordinal) and what differs:
 * counts, ordinals and positions, never a record's contents.
 *
 *   record      every record reached decodes (records.c).
 *   config      1 <= threshold <= stewards, the stewards distinct and
 *               none the registrar, who is an active registrar.
 *   index       every record is where its keys say: the listing leads to
 *               requests with the listed ids and "requests" counts it; a
 *               contribution carries its request and ordinal, and
 *               market.ctx and market.cpay lead back to it; a consent
 *               carries its key's request and author.
 *   request     a request names an active researcher, an active sponsor
 *               as funder when funded, and three published policies of
 *               their kinds; closed exactly when closed_index is set.
 *   counts      counters equal the records: contributions <= cohort and
 *               no record past them; included = the included
 *               contributions; a release's approvals and rejections =
 *               its stewards' reviews, its contributions = its list.
 *   consent     every contribution has its payee's consent on the
 *               request; a consent's revoked flag and index agree, and a
 *               consent revoked now (the last grant or revoke wins) was
 *               not revoked yet when the contribution was submitted,
 *               proposed or approved.
 *   membership  every contribution a release lists belongs to the
 *               release's request and names that release, staged no
 *               more: PROPOSED in a proposed release, INCLUDED in an
 *               approved one; and every contribution naming a release is
 *               listed by it (no contribution names a rejected one).
 *   payout      only an approved release has payouts, approved at the
 *               threshold by its deciding review, a steward's approval;
 *               each payout is at that review's entry, pays an included
 *               contribution of the release to its payee through a
 *               tokens transfer at the same entry, and release.paid is
 *               their sum; every release movement out of the request's
 *               escrow is one of them (id, payee, amount, entry).
 *   disclosure  only an approved release is disclosed, each download
 *               recorded, to the request's researcher.
 *   escrow      held - paid - refunded = escrow (never negative: the
 *               decoder) = the tokens escrow account's balance; its
 *               funder is the request's; its holds sum to held, its
 *               release movements to paid, its refunds (to the funder)
 *               to refunded; paid sums the approved releases' paid; a
 *               closed request has no escrow left.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define AUDIT_MOVES_PAGE 256 /* escrow movements read at once */

struct audit {
	struct market *m;
	struct mm_diag *diag;
	struct market_config cfg;
	uint64_t ord;			  /* the request's ordinal */
	bool in_request;		  /* messages name the request */
	struct market_request *r;	  /* the request walked */
	struct market_contribution *c;	  /* scratch */
	struct market_consent *cs;	  /* scratch */
	struct market_release rel;	  /* the release walked */
	uint8_t (*rels)[MARKET_ID_BYTES]; /* releases its contributions name */
	size_t nrels;
	uint64_t nproposed, nincluded;	   /* contributions by status */
	uint64_t in_proposed, in_approved; /* listed by releases by status */
	char paid[TOKENS_AMOUNT_STR_MAX];  /* approved releases' paid, summed */
	struct market_payout *pays;	   /* payouts of approved releases */
	size_t npays;
	struct tokens_movement *moves; /* a page of escrow history */
};

/* Records the first violation of class cls; returns MM_ERR_CORRUPT. */
static int violation(struct audit *a, const char *cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int violation(struct audit *a, const char *cls, const char *fmt, ...)
{
	char what[MM_DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (a->in_request)
		return mm_fail(a->diag, MM_ERR_CORRUPT, 0,
			       "market audit: %s: request %llu: %s", cls,
			       (unsigned long long)a->ord, what);
	return mm_fail(a->diag, MM_ERR_CORRUPT, 0, "market audit: %s: %s", cls,
		       what);
}

/* The outcome of reading what: absent is a violation of cls, a record
 * that does not decode one of "record", other errors pass through. */
static int got(struct audit *a, int err, const char *cls, const char *what)
{
	if (err == MM_ERR_NOTFOUND)
		return violation(a, cls, "%s is missing", what);
	if (err == MM_ERR_CORRUPT)
		return violation(a, "record", "%s does not decode", what);
	if (err)
		return mm_fail(a->diag, err, 0, "market audit: reading %s: %s",
			       what, mm_strerror(err));
	return MM_OK;
}

/* MM_OK when db holds nothing under key; else a violation of cls. */
static int absent(struct audit *a, unsigned db, const void *key, size_t key_n,
		  const char *cls, const char *what)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int err = ledger_state_read(a->m->l, db, key, key_n, &v, &n);

	free(v);
	if (err == MM_ERR_NOTFOUND)
		return MM_OK;
	return err ? got(a, err, cls, what) : violation(a, cls, "%s", what);
}

/* A short printable name of a release id (not patient data). */
static const char *rel_name(const uint8_t id[MARKET_ID_BYTES], char out[9])
{
	ledger_hex(id, 4, out);
	return out;
}

/* ------------------------------------------------------------------ */
/* Config and the request listing.                                     */

static int audit_config(struct audit *a)
{
	struct market_participant p;
	const struct market_config *c = &a->cfg;
	int err;

	if (c->threshold < 1 || c->threshold > c->nstewards)
		return violation(a, "config",
				 "the threshold is not between 1 and the "
				 "number of stewards");
	for (unsigned i = 0; i < c->nstewards; i++) {
		if (memcmp(c->stewards[i], c->registrar, LEDGER_HASH_BYTES) ==
		    0)
			return violation(a, "config",
					 "steward %u is the registrar", i);
		for (unsigned j = 0; j < i; j++)
			if (memcmp(c->stewards[j], c->stewards[i],
				   LEDGER_HASH_BYTES) == 0)
				return violation(a, "config",
						 "stewards %u and %u are one",
						 j, i);
	}
	err = got(a, market_participant_get(a->m, c->registrar, &p), "config",
		  "the registrar's participant record");
	if (!err && (p.role != MARKET_ROLE_REGISTRAR || !p.active))
		err = violation(a, "config",
				"the registrar is not an active registrar");
	return err;
}

/* ------------------------------------------------------------------ */
/* A request's own terms.                                              */

static int need_participant(struct audit *a, const uint8_t id[32],
			    enum market_role role, const char *who)
{
	struct market_participant p;
	int err = got(a, market_participant_get(a->m, id, &p), "request", who);

	if (!err && (p.role != role || !p.active))
		err = violation(a, "request", "its %s is not an active %s", who,
				market_role_name(role));
	return err;
}

static int need_policy(struct audit *a, const uint8_t id[32], const char *kind)
{
	char k[16], *src = NULL;
	int err = got(a, market_policy_get(a->m, id, k, &src), "request",
		      "a policy it names");

	free(src);
	if (!err && strcmp(k, kind) != 0)
		err = violation(a, "request",
				"its %s policy is published as another kind",
				kind);
	return err;
}

static int audit_terms(struct audit *a)
{
	const struct market_request *r = a->r;
	int err = MM_OK;

	if (r->closed != (r->closed_index != 0))
		return violation(a, "request",
				 "closed and closed_index disagree");
	err = need_participant(a, r->researcher, MARKET_ROLE_RESEARCHER,
			       "researcher");
	if (!err && r->funded)
		err = need_participant(a, r->funder, MARKET_ROLE_SPONSOR,
				       "funder");
	if (!err)
		err = need_policy(a, r->eligibility, "eligibility");
	if (!err)
		err = need_policy(a, r->payout, "payout");
	return err ? err : need_policy(a, r->profile, "profile");
}

/* ------------------------------------------------------------------ */
/* Contributions and their consents.                                   */

/* c's consent: present under its key, not revoked by entry at (the
 * submission, proposal or approval of c, named by when). */
static int audit_consent(struct audit *a, const struct market_contribution *c,
			 uint64_t at, const char *when)
{
	struct market_consent *cs = a->cs;
	int err = market_consent_get(a->m, a->r->id, c->payee, cs);

	if (err == MM_ERR_NOTFOUND)
		return violation(a, "consent",
				 "contribution %llu has no consent of its "
				 "payee",
				 (unsigned long long)c->ordinal);
	err = got(a, err, "consent", "a consent");
	if (!err && (memcmp(cs->request, a->r->id, MARKET_ID_BYTES) != 0 ||
		     memcmp(cs->author, c->payee, LEDGER_HASH_BYTES) != 0))
		return violation(a, "index",
				 "the consent of contribution %llu carries "
				 "another key",
				 (unsigned long long)c->ordinal);
	if (!err && (cs->revoked != (cs->revoked_index != 0) ||
		     (cs->revoked && cs->revoked_index <= cs->granted_index) ||
		     cs->expires_ms <= cs->granted_ms))
		return violation(a, "consent",
				 "the consent of contribution %llu is "
				 "inconsistent",
				 (unsigned long long)c->ordinal);
	if (!err && cs->revoked && cs->revoked_index < at)
		return violation(a, "consent",
				 "contribution %llu: its consent was revoked "
				 "before its %s",
				 (unsigned long long)c->ordinal, when);
	return err;
}

/* Notes the release c names (once) and counts c by status. */
static int note_release(struct audit *a, const struct market_contribution *c)
{
	static const uint8_t none[MARKET_ID_BYTES];
	size_t i = 0;

	if (c->status == MARKET_C_STAGED)
		return memcmp(c->release, none, MARKET_ID_BYTES) == 0
			       ? MM_OK
			       : violation(a, "membership",
					   "staged contribution %llu names a "
					   "release",
					   (unsigned long long)c->ordinal);
	if (c->status == MARKET_C_PROPOSED)
		a->nproposed++;
	else
		a->nincluded++;
	while (i < a->nrels &&
	       memcmp(a->rels[i], c->release, MARKET_ID_BYTES) != 0)
		i++;
	if (i == a->nrels)
		memcpy(a->rels[a->nrels++], c->release, MARKET_ID_BYTES);
	return MM_OK;
}

/* Contribution ordinal i: its record, its two indexes, its consent. */
static int audit_contribution(struct audit *a, uint64_t i)
{
	struct market_contribution *c = a->c;
	uint8_t k[KEYN_BYTES], want[KEYN_BYTES], kp[KEY2_BYTES], ord[8];
	int err = got(a, market_contribution_at(a->m, a->r->id, i, c), "counts",
		      "a contribution below the count");

	if (err)
		return err;
	if (c->ordinal != i ||
	    memcmp(c->request, a->r->id, MARKET_ID_BYTES) != 0)
		return violation(a, "index",
				 "contribution %llu carries another place",
				 (unsigned long long)i);
	market_keyn(want, a->r->id, i);
	err = got(a,
		  market_val_read(a->m, a->m->db_ctx, c->tx, LEDGER_HASH_BYTES,
				  k, sizeof(k)),
		  "index", "a contribution's market.ctx entry");
	if (!err && memcmp(k, want, sizeof(k)) != 0)
		err = violation(a, "index",
				"market.ctx of contribution %llu leads "
				"elsewhere",
				(unsigned long long)i);
	market_key2(kp, a->r->id, c->payee);
	if (!err)
		err = got(a,
			  market_val_read(a->m, a->m->db_cpay, kp, sizeof(kp),
					  ord, sizeof(ord)),
			  "index", "a contribution's market.cpay entry");
	if (!err && market_get_u64be(ord) != i)
		err = violation(a, "index",
				"market.cpay of contribution %llu leads "
				"elsewhere",
				(unsigned long long)i);
	if (!err)
		err = audit_consent(a, c, c->index, "submission");
	return err ? err : note_release(a, c);
}

static int audit_contributions(struct audit *a)
{
	uint8_t k[KEYN_BYTES];
	int err = MM_OK;

	if (a->r->contributions > a->r->cohort ||
	    a->r->included > a->r->contributions)
		return violation(a, "counts",
				 "more contributions or included ones than "
				 "the cohort allows");
	for (uint64_t i = 0; !err && i < a->r->contributions; i++)
		err = audit_contribution(a, i);
	market_keyn(k, a->r->id, a->r->contributions);
	return err ? err
		   : absent(a, a->m->db_contrib, k, sizeof(k), "counts",
			    "a contribution past the count");
}

/* ------------------------------------------------------------------ */
/* Releases: payouts, reviews, disclosures, members.                   */

/* The deciding review of an approved release is a steward's approval at
 * its decided_index; approvals and rejections count the reviews. */
static int audit_reviews(struct audit *a, char name[9])
{
	const struct market_release *rel = &a->rel;
	struct market_review rv;
	unsigned yes = 0, no = 0;
	bool deciding = false;
	int err = MM_OK;

	for (unsigned i = 0; !err && i < a->cfg.nstewards; i++) {
		err = market_review_get(a->m, rel->id, a->cfg.stewards[i], &rv);
		if (err == MM_ERR_NOTFOUND) {
			err = MM_OK;
			continue;
		}
		err = got(a, err, "counts", "a review");
		yes += !err && rv.approve;
		no += !err && !rv.approve;
		deciding = deciding || (!err && rv.approve &&
					rv.index == rel->decided_index);
	}
	if (!err && rel->status == MARKET_R_APPROVED &&
	    (!deciding || rel->approvals < a->cfg.threshold))
		return violation(a, "payout",
				 "release %s is approved without its "
				 "stewards' approval",
				 name);
	if (!err && (yes != rel->approvals || no != rel->rejections))
		return violation(a, "counts",
				 "release %s counts other reviews than its "
				 "stewards gave",
				 name);
	return err;
}

/* Payout p of the approved release: at its deciding entry, to an
 * included contribution of it, through a tokens transfer there. */
static int audit_payout(struct audit *a, const struct market_payout *p,
			uint64_t i, char name[9])
{
	struct market_contribution *c = a->c;
	uint64_t at = 0;
	int err = got(a, market_contribution_get(a->m, p->contribution, c),
		      "payout", "a paid contribution");

	if (!err && (p->index != a->rel.decided_index ||
		     memcmp(c->release, a->rel.id, MARKET_ID_BYTES) != 0 ||
		     memcmp(c->request, a->r->id, MARKET_ID_BYTES) != 0 ||
		     c->status != MARKET_C_INCLUDED ||
		     memcmp(c->payee, p->payee, LEDGER_HASH_BYTES) != 0))
		return violation(a, "payout",
				 "payout %llu of release %s is not to an "
				 "included contribution of it at its approval",
				 (unsigned long long)i, name);
	if (!err)
		err = tokens_transfer_find(a->m->t, p->transfer, &at);
	if (err == MM_ERR_NOTFOUND || (!err && at != p->index))
		return violation(a, "payout",
				 "payout %llu of release %s has no tokens "
				 "transfer at its entry",
				 (unsigned long long)i, name);
	return err ? got(a, err, "payout", "a payout's transfer") : MM_OK;
}

/* Payouts only of an approved release, summing to its paid. */
static int audit_payouts(struct audit *a, char name[9])
{
	const struct market_release *rel = &a->rel;
	char sum[TOKENS_AMOUNT_STR_MAX] = "0";
	uint8_t k[KEYN_BYTES];
	size_t n = 0;
	enum mm_err err = MM_OK;

	if (rel->status != MARKET_R_APPROVED &&
	    (rel->payouts != 0 || strcmp(rel->paid, "0") != 0))
		return violation(a, "payout",
				 "release %s has payouts but is not approved",
				 name);
	if (a->npays + rel->payouts > MARKET_COHORT_MAX)
		return violation(a, "counts", "more payouts than the cohort");
	if (rel->payouts)
		err = got(a,
			  market_payouts(a->m, rel->id, 0, a->pays + a->npays,
					 rel->payouts, &n),
			  "payout", "a payout");
	if (!err && n != rel->payouts)
		return violation(a, "payout",
				 "release %s has fewer payouts than it counts",
				 name);
	for (size_t i = 0; !err && i < n; i++) {
		err = audit_payout(a, &a->pays[a->npays + i], i, name);
		if (!err)
			err = market_amount_op(
				sum, a->pays[a->npays + i].amount, 1, sum);
	}
	a->npays += n;
	if (!err && strcmp(sum, rel->paid) != 0)
		return violation(a, "payout",
				 "release %s's paid is not its payouts' sum",
				 name);
	market_keyn(k, rel->id, rel->payouts);
	if (!err)
		err = absent(a, a->m->db_pay, k, sizeof(k), "payout",
			     "a payout past the count");
	return err ? err : market_amount_op(a->paid, rel->paid, 1, a->paid);
}

static int audit_disclosures(struct audit *a, char name[9])
{
	const struct market_release *rel = &a->rel;
	struct market_disclosure d;
	uint8_t k[KEYN_BYTES];
	int err = MM_OK;

	if (rel->status != MARKET_R_APPROVED && rel->disclosures != 0)
		return violation(a, "disclosure",
				 "release %s is disclosed but not approved",
				 name);
	for (uint64_t i = 0; !err && i < rel->disclosures; i++) {
		market_keyn(k, rel->id, i);
		err = got(a,
			  market_rec_read(a->m, a->m->db_disc, k, sizeof(k),
					  &market_rec_disc, &d),
			  "disclosure", "a counted disclosure");
		if (!err && memcmp(d.researcher, a->r->researcher,
				   LEDGER_HASH_BYTES) != 0)
			err = violation(a, "disclosure",
					"disclosure %llu of release %s is not "
					"to the researcher",
					(unsigned long long)i, name);
	}
	market_keyn(k, rel->id, rel->disclosures);
	return err ? err
		   : absent(a, a->m->db_disc, k, sizeof(k), "disclosure",
			    "a disclosure past the count");
}

/* Member i of the release: of its request, naming it, consented. */
static int audit_member(struct audit *a, uint64_t i, char name[9])
{
	const struct market_release *rel = &a->rel;
	struct market_contribution *c = a->c;
	bool approved = rel->status == MARKET_R_APPROVED;
	uint8_t k[KEYN_BYTES], tx[LEDGER_HASH_BYTES];
	int err;

	market_keyn(k, rel->id, i);
	err = got(a,
		  market_val_read(a->m, a->m->db_relc, k, sizeof(k), tx,
				  sizeof(tx)),
		  "counts", "a listed contribution of a release");
	if (!err)
		err = got(a, market_contribution_get(a->m, tx, c), "membership",
			  "a contribution a release lists");
	if (!err && memcmp(c->request, rel->request, MARKET_ID_BYTES) != 0)
		return violation(a, "membership",
				 "release %s lists a contribution of another "
				 "request at %llu",
				 name, (unsigned long long)i);
	if (!err &&
	    (memcmp(c->release, rel->id, MARKET_ID_BYTES) != 0 ||
	     c->status != (approved ? MARKET_C_INCLUDED : MARKET_C_PROPOSED)))
		return violation(a, "membership",
				 "release %s lists at %llu a contribution "
				 "that is not in it",
				 name, (unsigned long long)i);
	if (!err)
		err = audit_consent(a, c,
				    approved ? rel->decided_index
					     : rel->proposed_index,
				    approved ? "approval" : "proposal");
	return err;
}

static int audit_members(struct audit *a, char name[9])
{
	const struct market_release *rel = &a->rel;
	uint8_t k[KEYN_BYTES];
	int err = MM_OK;

	for (uint64_t i = 0; !err && i < rel->ncontributions; i++)
		err = audit_member(a, i, name);
	market_keyn(k, rel->id, rel->ncontributions);
	if (rel->status == MARKET_R_APPROVED)
		a->in_approved += rel->ncontributions;
	else
		a->in_proposed += rel->ncontributions;
	return err ? err
		   : absent(a, a->m->db_relc, k, sizeof(k), "counts",
			    "a release's contribution past its count");
}

/* A release named by a contribution of the request. */
static int audit_release(struct audit *a, const uint8_t id[MARKET_ID_BYTES])
{
	struct market_release *rel = &a->rel;
	char name[9];
	int err = got(a, market_release_get(a->m, id, rel), "membership",
		      "a release a contribution names");

	rel_name(id, name);
	if (err)
		return err;
	if (memcmp(rel->id, id, MARKET_ID_BYTES) != 0)
		return violation(a, "index", "release %s carries another id",
				 name);
	if (memcmp(rel->request, a->r->id, MARKET_ID_BYTES) != 0 ||
	    rel->status == MARKET_R_REJECTED)
		return violation(a, "membership",
				 "contributions name release %s, which is "
				 "rejected or of another request",
				 name);
	if (rel->status == MARKET_R_PROPOSED && rel->decided_index != 0)
		return violation(a, "counts",
				 "proposed release %s has a deciding entry",
				 name);
	err = audit_payouts(a, name);
	if (!err)
		err = audit_reviews(a, name);
	if (!err)
		err = audit_disclosures(a, name);
	return err ? err : audit_members(a, name);
}

/* ------------------------------------------------------------------ */
/* The request's totals and its tokens escrow.                         */

static int audit_totals(struct audit *a)
{
	if (a->nincluded != a->r->included)
		return violation(a, "counts",
				 "included counts %llu, the contributions say "
				 "%llu",
				 (unsigned long long)a->r->included,
				 (unsigned long long)a->nincluded);
	if (a->nincluded != a->in_approved || a->nproposed != a->in_proposed)
		return violation(a, "membership",
				 "a contribution names a release that does "
				 "not list it");
	if (a->nrels > a->r->releases)
		return violation(a, "counts",
				 "more releases than it counts proposed");
	if (strcmp(a->paid, a->r->paid) != 0)
		return violation(a, "escrow",
				 "paid is not the sum of its approved "
				 "releases' paid");
	return MM_OK;
}

static int cmp_payout(const void *x, const void *y)
{
	return memcmp(((const struct market_payout *)x)->transfer,
		      ((const struct market_payout *)y)->transfer,
		      TOKENS_ID_BYTES);
}

/* Release movement mv out of the escrow is a payout of the request. */
static int movement_paid(struct audit *a, const struct tokens_movement *mv)
{
	struct market_payout key, *p;

	memcpy(key.transfer, mv->id, TOKENS_ID_BYTES);
	p = bsearch(&key, a->pays, a->npays, sizeof(*p), cmp_payout);
	if (!p || p->index != mv->index || strcmp(p->amount, mv->amount) != 0 ||
	    memcmp(p->payee, mv->other, LEDGER_HASH_BYTES) != 0)
		return violation(a, "payout",
				 "escrow movement %llu is no payout of an "
				 "approved release",
				 (unsigned long long)mv->seq);
	return MM_OK;
}

/* Sums the escrow's movements by kind into sums (hold, release, refund),
 * checking each; *releases counts the release movements. */
static int escrow_moves(struct audit *a, const uint8_t eid[32],
			char sums[3][TOKENS_AMOUNT_STR_MAX], size_t *releases)
{
	size_t n = AUDIT_MOVES_PAGE;
	uint64_t from = 0;
	int err = MM_OK;

	while (!err && n == AUDIT_MOVES_PAGE) {
		err = tokens_history(a->m->t, TOKENS_ACCT_ESCROW, eid, from,
				     a->moves, AUDIT_MOVES_PAGE, &n);
		for (size_t i = 0; !err && i < n; i++) {
			const struct tokens_movement *mv = &a->moves[i];
			int k = (int)mv->kind - TOKENS_HOLD;

			if (k < 0 || k > 2 || mv->credit != (k == 0) ||
			    (k != 1 && memcmp(mv->other, a->r->funder,
					      LEDGER_HASH_BYTES) != 0))
				return violation(a, "escrow",
						 "escrow movement %llu is no "
						 "hold or refund of the funder "
						 "nor a payout",
						 (unsigned long long)mv->seq);
			if (k == 1) {
				err = movement_paid(a, mv);
				++*releases;
			}
			if (!err)
				err = market_amount_op(sums[k], mv->amount, 1,
						       sums[k]);
		}
		from += n;
	}
	return err ? got(a, err, "escrow", "the escrow's movements") : MM_OK;
}

static int audit_escrow(struct audit *a)
{
	const struct market_request *r = a->r;
	char bal[TOKENS_AMOUNT_STR_MAX],
		sums[3][TOKENS_AMOUNT_STR_MAX] = {"0", "0", "0"};
	uint8_t eid[LEDGER_HASH_BYTES], funder[LEDGER_HASH_BYTES];
	size_t releases = 0;
	int err;

	market_escrow_id(r->id, eid);
	err = tokens_escrow(a->m->t, eid, bal, funder);
	if (err == MM_ERR_NOTFOUND && !r->funded && strcmp(r->held, "0") == 0)
		return MM_OK; /* never funded: no escrow account */
	err = got(a, err, "escrow", "the tokens escrow account");
	if (!err && (!r->funded || strcmp(bal, r->escrow) != 0 ||
		     memcmp(funder, r->funder, LEDGER_HASH_BYTES) != 0))
		return violation(a, "escrow",
				 "the tokens escrow account holds another "
				 "amount or has another funder");
	if (!err && r->closed && strcmp(r->escrow, "0") != 0)
		return violation(a, "escrow", "closed with escrow left");
	qsort(a->pays, a->npays, sizeof(*a->pays), cmp_payout);
	if (!err)
		err = escrow_moves(a, eid, sums, &releases);
	if (!err && releases != a->npays)
		return violation(a, "payout",
				 "%zu payouts, %zu escrow release movements",
				 a->npays, releases);
	if (!err &&
	    (strcmp(sums[0], r->held) != 0 || strcmp(sums[1], r->paid) != 0 ||
	     strcmp(sums[2], r->refunded) != 0))
		return violation(a, "escrow",
				 "held, paid or refunded is not the sum of "
				 "the escrow's movements");
	return err;
}

/* ------------------------------------------------------------------ */
/* The walk.                                                           */

static int audit_request(struct audit *a, uint64_t i)
{
	uint8_t id[MARKET_ID_BYTES];
	int err = got(a, market_request_at(a->m, i, id), "index",
		      "a listed request");

	a->ord = i;
	a->in_request = true;
	a->nrels = a->npays = 0;
	a->nproposed = a->nincluded = a->in_proposed = a->in_approved = 0;
	memcpy(a->paid, "0", 2);
	if (!err)
		err = got(a, market_request_get(a->m, id, a->r), "index",
			  "the listed request");
	if (!err && memcmp(a->r->id, id, MARKET_ID_BYTES) != 0)
		return violation(a, "index", "listed under another id");
	if (!err)
		err = audit_terms(a);
	if (!err)
		err = audit_contributions(a);
	for (size_t j = 0; !err && j < a->nrels; j++)
		err = audit_release(a, a->rels[j]);
	if (!err)
		err = audit_totals(a);
	return err ? err : audit_escrow(a);
}

static int audit_requests(struct audit *a)
{
	uint64_t n = 0;
	uint8_t k[8];
	int err = market_request_count(a->m, &n);

	if (err)
		return got(a, err, "index", "the request count");
	for (uint64_t i = 0; !err && i < n; i++)
		err = audit_request(a, i);
	a->in_request = false;
	market_put_u64be(k, n);
	return err ? err
		   : absent(a, a->m->db_reqlist, k, sizeof(k), "index",
			    "a listed request past the count");
}

enum mm_err market_audit(struct market *m, struct mm_diag *diag)
{
	struct audit a = {.m = m, .diag = diag};
	int err = market_config_get(m, &a.cfg);

	if (err == MM_ERR_NOTFOUND)
		return MM_OK; /* before market.init */
	err = got(&a, err, "config", "the config");
	a.r = malloc(sizeof(*a.r));
	a.c = malloc(sizeof(*a.c));
	a.cs = malloc(sizeof(*a.cs));
	a.rels = malloc(MARKET_COHORT_MAX * sizeof(*a.rels));
	a.pays = malloc(MARKET_COHORT_MAX * sizeof(*a.pays));
	a.moves = malloc(AUDIT_MOVES_PAGE * sizeof(*a.moves));
	if (!err && (!a.r || !a.c || !a.cs || !a.rels || !a.pays || !a.moves))
		err = mm_fail(diag, MM_ERR_NOMEM, 0, "market audit: no memory");
	if (!err)
		err = audit_config(&a);
	if (!err)
		err = audit_requests(&a);
	free(a.r);
	free(a.c);
	free(a.cs);
	free(a.rels);
	free(a.pays);
	free(a.moves);
	return err;
}

enum mm_err market_audit_dir(const char *dir, struct mm_diag *diag)
{
	struct ledger_config cfg;
	struct ledger *l = NULL;
	struct tokens *t = NULL;
	struct market *m = NULL;
	int err;

	ledger_config_default(&cfg);
	cfg.dir = dir;
	cfg.read_only = true;
	err = ledger_open(&cfg, NULL, &l, diag);
	if (err)
		return err;
	err = tokens_open(l, NULL, &t);
	if (!err)
		err = market_open(l, t, NULL, &m);
	if (err == MM_ERR_NOTFOUND)
		err = MM_OK; /* no tokens or no market state: nothing to audit
			      */
	else if (!err)
		err = market_audit(m, diag);
	ledger_close(l);
	market_free(m);
	tokens_free(t);
	return err;
}
