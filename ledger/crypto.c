/* crypto.c - being written. */
#include "ledger.h"
typedef int ledger_crypto_pending;
