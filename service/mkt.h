/*
 * mkt.h - medmarketd's marketplace routes (market_routes.c), compiled
 * when the market module is built (MMD_MARKET; else stubs answer 404). Handlers
 * take the {param} of the path as arg, like those in mmd.h.
 */
#ifndef MMD_MKT_H
#define MMD_MKT_H

#include "mmd.h"

#ifndef MMD_MARKET
/* Built without market/: the routes exist (the API is the same) and
 * answer 404, as a node without market.init does. */
static inline void mmd_no_market(struct mmd_req *rq, const char *arg)
{
	(void)arg;
	mmd_reply_problemf(rq, 404, MM_ERR_NOTFOUND,
			   "this node has no marketplace (built without it)");
}
#define mmd_get_requests     mmd_no_market
#define mmd_get_request	     mmd_no_market
#define mmd_get_participant  mmd_no_market
#define mmd_get_account	     mmd_no_market
#define mmd_get_consent	     mmd_no_market
#define mmd_get_contribution mmd_no_market
#define mmd_get_release	     mmd_no_market
#define mmd_get_payouts	     mmd_no_market
#else
void mmd_get_requests(struct mmd_req *rq, const char *arg);
void mmd_get_request(struct mmd_req *rq, const char *arg);
void mmd_get_participant(struct mmd_req *rq, const char *arg);
void mmd_get_account(struct mmd_req *rq, const char *arg);
void mmd_get_consent(struct mmd_req *rq, const char *arg);
void mmd_get_contribution(struct mmd_req *rq, const char *arg);
void mmd_get_release(struct mmd_req *rq, const char *arg);
void mmd_get_payouts(struct mmd_req *rq, const char *arg);
#endif

#endif
