/* tx.c - being written. */
#include "ledger.h"
typedef int ledger_tx_pending;
