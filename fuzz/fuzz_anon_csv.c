/* fuzz_anon_csv.c - libFuzzer target for the schema parser and the CSV
 * reader: any bytes give a table or an error with no table, a table has
 * the schema's columns and cells within the limits, a header read alone
 * (anon_csv_header, as medmarket anonymize does) gives a schema the reader
 * accepts for its header, and a schema text either parses or is refused. */
#include <stdlib.h>
#include <string.h>

#include "anonymizer/anonymizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct anon_column cols[] = {
	{"a", ANON_T_STRING, ANON_QUASI},
	{"b", ANON_T_TEXT, ANON_INSENSITIVE},
	{"c", ANON_T_ZIP, ANON_QUASI},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct anon_csv_opts o = {.cell_bytes_max = 64, .rows_max = 1000};
	struct anon_table *t = (struct anon_table *)1;
	struct anon_schema s;
	struct mm_diag d;
	int rc;

	if (size == 0 || size > 1u << 16)
		return 0;
	/* The first byte picks the separator (never '"', CR or LF). */
	o.sep = (char)data[0];
	rc = anon_csv_read(&t, (const char *)data + 1, size - 1, cols, 3, &o,
			   &d);
	MM_ASSERT((rc == MM_OK) == (t != NULL));
	MM_ASSERT(rc != MM_ERR_NOMEM);
	for (size_t r = 0; t != NULL && r < anon_table_rows(t); r++) {
		for (size_t c = 0; c < 3; c++)
			MM_ASSERT(anon_table_cell_len(t, r, c) <= 64);
	}
	if (t != NULL)
		MM_ASSERT(anon_table_cols(t) == 3 &&
			  anon_table_rows(t) <= 1000);
	anon_table_free(t);
	rc = anon_csv_header(&s, (const char *)data + 1, size - 1, &o, &d);
	MM_ASSERT((rc == MM_OK) == (s.ncols > 0));
	if (rc == MM_OK) {
		rc = anon_csv_read(&t, (const char *)data + 1, size - 1, s.cols,
				   s.ncols, &o, &d);
		MM_ASSERT(rc != MM_ERR_SCHEMA && rc != MM_ERR_NOMEM);
		MM_ASSERT((rc == MM_OK) == (t != NULL));
		if (t != NULL)
			MM_ASSERT(anon_table_cols(t) == s.ncols);
		anon_table_free(t);
	}
	anon_schema_release(&s);
	rc = anon_schema_parse(&s, (const char *)data, size, &d);
	MM_ASSERT((rc == MM_OK) == (s.ncols > 0));
	MM_ASSERT(s.ncols <= ANON_TABLE_COLS_MAX);
	anon_schema_release(&s);
	return 0;
}
