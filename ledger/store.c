/* store.c - being written. */
#include "ledger.h"
typedef int ledger_store_pending;
