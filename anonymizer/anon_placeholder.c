/* anon_placeholder.c - keeps the library non-empty until the first real
 * source lands; delete it then. */
#include "anonymizer.h"
typedef int anon_placeholder;
