/* merkle.c - being written. */
#include "ledger.h"
typedef int ledger_merkle_pending;
