/* fuzz_anon_fhir.c - libFuzzer target for the FHIR field spec and the
 * FHIR R4 reader: any bytes give a table or an error with no table, and a
 * table has one column per field. */
#include <stdlib.h>
#include <string.h>

#include "anonymizer/anonymizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char spec_text[] =
	"id,patient_id,identifier,Patient.id\n"
	"zip,zip,quasi,Patient.address.postalCode\n"
	"name,name,identifier,Patient.name.given,all\n"
	"dx,icd10,sensitive,Condition.code[http://hl7.org/fhir/sid/icd-10-cm],"
	"all\n"
	"a1c,string,sensitive,"
	"Observation[http://loinc.org|4548-4].valueQuantity.value,last\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct anon_fhir_spec spec, any;
	struct anon_table *t = (struct anon_table *)1;
	struct mm_diag d;
	int rc;

	if (size > 1u << 18)
		return 0;
	rc = anon_fhir_spec_parse(&spec, spec_text, strlen(spec_text), &d);
	MM_ASSERT(rc == MM_OK);
	rc = anon_fhir_read(&t, (const char *)data, size, spec.fields,
			    spec.nfields, &d);
	MM_ASSERT((rc == MM_OK) == (t != NULL));
	MM_ASSERT(rc != MM_ERR_NOMEM && rc != MM_ERR_INVALID);
	if (t != NULL)
		MM_ASSERT(anon_table_cols(t) == spec.nfields);
	anon_table_free(t);
	anon_fhir_spec_release(&spec);
	/* The same bytes as a field spec. */
	rc = anon_fhir_spec_parse(&any, (const char *)data, size, &d);
	MM_ASSERT((rc == MM_OK) == (any.nfields > 0));
	anon_fhir_spec_release(&any);
	return 0;
}
