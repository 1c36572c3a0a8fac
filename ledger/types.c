/* types.c - being written. */
#include "ledger.h"
typedef int ledger_types_pending;
