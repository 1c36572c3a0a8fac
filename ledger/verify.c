/* verify.c - being written. */
#include "ledger.h"
typedef int ledger_verify_pending;
