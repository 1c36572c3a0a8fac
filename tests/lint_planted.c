/* lint_planted.c - an archive for lint_symbols_planted: one symbol with the
 * ledger's prefix and one without, which check_symbols.sh must name. */
int ledger_planted_ok(void);
int planted_unprefixed(void);

int ledger_planted_ok(void)
{
	return 1;
}

int planted_unprefixed(void)
{
	return 2;
}
