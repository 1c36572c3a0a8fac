/* head.c - being written. */
#include "ledger.h"
typedef int ledger_head_pending;
