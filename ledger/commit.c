/* commit.c - being written. */
#include "ledger.h"
typedef int ledger_commit_pending;
