/* codec.c - being written. */
#include "ledger.h"
typedef int ledger_codec_pending;
