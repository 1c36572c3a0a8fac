/* scrub_words.c - the word lists the free-text scrubber consults: common
 * English words that are not names when capitalized, a compact list of
 * first names, name cues, street and unit words, month names, top-level
 * domains.  Written from general knowledge, not tuned on the test data. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scrub_internal.h"

/* Lower case, sorted (checked by the test through anon_scrub_word_is). */
static const char *const stop_words[] = {
	"a",	       "abdomen",     "able",	     "about",
	"above",       "accept",      "account",     "accountant",
	"across",      "act",	      "actually",    "add",
	"added",       "address",     "admission",   "admitted",
	"after",       "afternoon",   "again",	     "against",
	"age",	       "ago",	      "agree",	     "air",
	"all",	       "allergies",   "along",	     "already",
	"also",	       "although",    "always",	     "am",
	"american",    "among",	      "amount",	     "an",
	"analysis",    "and",	      "another",     "answer",
	"any",	       "anyone",      "anything",    "appear",
	"apply",       "appointment", "approach",    "april",
	"are",	       "area",	      "areas",	     "around",
	"arrived",     "art",	      "as",	     "ask",
	"asked",       "assessment",  "at",	     "atm",
	"august",      "available",   "awarded",     "away",
	"back",	       "bad",	      "bank",	     "based",
	"be",	       "because",     "become",	     "becomes",
	"been",	       "before",      "began",	     "begin",
	"behind",      "being",	      "believe",     "below",
	"best",	       "better",      "between",     "big",
	"bill",	       "billing",     "birthday",    "bit",
	"black",       "blood",	      "blue",	     "board",
	"body",	       "book",	      "born",	     "both",
	"bp",	       "bring",	      "british",     "brought",
	"build",       "building",    "business",    "but",
	"buy",	       "by",	      "call",	     "called",
	"came",	       "can",	      "cannot",	     "car",
	"card",	       "care",	      "case",	     "cases",
	"cause",       "cell",	      "center",	     "centre",
	"certain",     "change",      "changes",     "check",
	"chest",       "chief",	      "children",    "chinese",
	"choose",      "city",	      "class",	     "clear",
	"clinic",      "close",	      "code",	     "come",
	"comes",       "common",      "community",   "company",
	"compared",    "complaint",   "condition",   "consider",
	"contact",     "continue",    "control",     "copd",
	"cost",	       "could",	      "country",     "county",
	"course",      "create",      "credit",	     "ct",
	"current",     "cut",	      "daily",	     "danish",
	"data",	       "date",	      "dawn",	     "day",
	"days",	       "dead",	      "deal",	     "dear",
	"death",       "december",    "decided",     "denied",
	"denies",      "department",  "describe",    "design",
	"despite",     "detail",      "develop",     "development",
	"diagnosis",   "did",	      "die",	     "different",
	"difficult",   "director",    "discharge",   "discharged",
	"discuss",     "do",	      "dob",	     "doctor",
	"does",	       "doing",	      "don't",	     "done",
	"door",	       "dose",	      "down",	     "dr",
	"draw",	       "drive",	      "drop",	     "due",
	"during",      "dutch",	      "each",	     "early",
	"easy",	       "eat",	      "ecg",	     "economy",
	"ed",	       "education",   "effect",	     "effort",
	"eight",       "either",      "else",	     "email",
	"emergency",   "end",	      "english",     "enough",
	"enter",       "entire",      "er",	     "especially",
	"even",	       "evening",     "event",	     "ever",
	"every",       "everyone",    "everything",  "evidence",
	"exactly",     "exam",	      "example",     "experience",
	"explain",     "face",	      "fact",	     "faith",
	"fall",	       "family",      "far",	     "fast",
	"father",      "fax",	      "february",    "feel",
	"feeling",     "female",      "few",	     "field",
	"fight",       "figure",      "fill",	     "film",
	"final",       "finally",     "find",	     "fine",
	"finish",      "finnish",     "fire",	     "first",
	"five",	       "floor",	      "fly",	     "follow",
	"food",	       "foot",	      "for",	     "force",
	"form",	       "forward",     "four",	     "free",
	"french",      "friday",      "friend",	     "from",
	"full",	       "fund",	      "further",     "future",
	"game",	       "general",     "german",	     "get",
	"girl",	       "give",	      "given",	     "glad",
	"go",	       "goes",	      "gone",	     "good",
	"government",  "grace",	      "great",	     "green",
	"ground",      "group",	      "grow",	     "guess",
	"had",	       "hand",	      "happen",	     "happy",
	"hard",	       "has",	      "have",	     "having",
	"he",	       "head",	      "health",	     "hear",
	"heard",       "heart",	      "held",	     "hello",
	"help",	       "her",	      "here",	     "hers",
	"herself",     "hi",	      "high",	     "him",
	"himself",     "his",	      "history",     "hit",
	"hiv",	       "hold",	      "home",	     "hope",
	"hospital",    "hot",	      "hour",	     "hours",
	"house",       "how",	      "however",     "huge",
	"human",       "i",	      "i'd",	     "i'll",
	"i'm",	       "i've",	      "icu",	     "id",
	"idea",	       "if",	      "important",   "improved",
	"in",	       "inc",	      "include",     "including",
	"increase",    "indeed",      "information", "inside",
	"instead",     "insurance",   "interest",    "into",
	"iris",	       "is",	      "issue",	     "it",
	"it's",	       "italian",     "item",	     "its",
	"itself",      "jack",	      "january",     "japanese",
	"job",	       "join",	      "joy",	     "july",
	"june",	       "just",	      "keep",	     "kept",
	"key",	       "kid",	      "kill",	     "kind",
	"know",	       "known",	      "land",	     "language",
	"large",       "last",	      "late",	     "later",
	"law",	       "lead",	      "learn",	     "least",
	"leave",       "led",	      "left",	     "less",
	"let",	       "level",	      "life",	     "light",
	"like",	       "line",	      "list",	     "listen",
	"little",      "live",	      "lives",	     "ll",
	"local",       "long",	      "look",	     "looking",
	"lose",	       "lost",	      "lot",	     "love",
	"low",	       "ltd",	      "made",	     "main",
	"make",	       "makes",	      "making",	     "male",
	"man",	       "manage",      "manager",     "many",
	"march",       "matter",      "may",	     "md",
	"me",	       "mean",	      "measure",     "media",
	"medical",     "meeting",     "member",	     "men",
	"message",     "mg",	      "middle",	     "might",
	"million",     "mind",	      "minute",	     "miss",
	"modern",      "moment",      "monday",	     "money",
	"month",       "more",	      "morning",     "most",
	"mother",      "move",	      "movie",	     "mr",
	"mri",	       "mrn",	      "mrs",	     "ms",
	"much",	       "music",	      "must",	     "my",
	"myself",      "name",	      "nation",	     "national",
	"natural",     "nature",      "near",	     "nearly",
	"necessary",   "need",	      "negative",    "network",
	"never",       "new",	      "news",	     "next",
	"nice",	       "night",	      "nine",	     "no",
	"nor",	       "normal",      "north",	     "norwegian",
	"not",	       "note",	      "noted",	     "notes",
	"nothing",     "notice",      "november",    "now",
	"number",      "nurse",	      "october",     "of",
	"off",	       "offer",	      "office",	     "often",
	"oh",	       "ok",	      "old",	     "on",
	"once",	       "one",	      "only",	     "open",
	"operation",   "or",	      "order",	     "organization",
	"other",       "others",      "our",	     "ours",
	"ourselves",   "out",	      "outside",     "over",
	"own",	       "page",	      "pain",	     "paper",
	"parent",      "part",	      "party",	     "pass",
	"past",	       "patient",     "patients",    "pay",
	"peace",       "people",      "per",	     "perhaps",
	"period",      "person",      "personal",    "phone",
	"pick",	       "picture",     "piece",	     "place",
	"plan",	       "plant",	      "play",	     "player",
	"please",      "point",	      "police",	     "policy",
	"polish",      "political",   "poor",	     "popular",
	"position",    "positive",    "possible",    "power",
	"practice",    "prepare",     "present",     "presented",
	"presents",    "president",   "pressure",    "pretty",
	"prevent",     "price",	      "private",     "probably",
	"problem",     "process",     "produce",     "product",
	"prof",	       "professor",   "program",     "project",
	"provide",     "public",      "pull",	     "purpose",
	"push",	       "put",	      "question",    "quickly",
	"quite",       "race",	      "radio",	     "raise",
	"range",       "rate",	      "rather",	     "re",
	"reach",       "read",	      "ready",	     "real",
	"reality",     "really",      "reason",	     "received",
	"recent",      "recently",    "record",	     "red",
	"reduce",      "regards",     "remain",	     "remember",
	"remove",      "report",      "reported",    "reports",
	"represent",   "require",     "research",    "resource",
	"respond",     "rest",	      "result",	     "return",
	"reveal",      "rich",	      "right",	     "rise",
	"risk",	       "road",	      "rock",	     "role",
	"room",	       "rose",	      "rule",	     "run",
	"russian",     "safe",	      "said",	     "sale",
	"same",	       "saturday",    "save",	     "say",
	"says",	       "scene",	      "school",	     "science",
	"score",       "sea",	      "season",	     "seat",
	"second",      "section",     "security",    "see",
	"seek",	       "seem",	      "seen",	     "sell",
	"send",	       "senior",      "sense",	     "september",
	"series",      "serious",     "serve",	     "service",
	"set",	       "seven",	      "several",     "shake",
	"share",       "she",	      "short",	     "shot",
	"should",      "show",	      "side",	     "sign",
	"significant", "similar",     "simple",	     "simply",
	"since",       "sincerely",   "single",	     "sister",
	"sit",	       "site",	      "situation",   "six",
	"size",	       "skill",	      "small",	     "smile",
	"so",	       "social",      "society",     "soldier",
	"some",	       "someone",     "something",   "sometimes",
	"son",	       "song",	      "soon",	     "sort",
	"sound",       "source",      "south",	     "space",
	"spanish",     "speak",	      "special",     "specific",
	"spend",       "sport",	      "spring",	     "ssn",
	"st",	       "stable",      "staff",	     "stage",
	"stand",       "standard",    "star",	     "start",
	"started",     "state",	      "statement",   "states",
	"station",     "stay",	      "step",	     "still",
	"stock",       "stop",	      "store",	     "story",
	"strategy",    "street",      "strong",	     "structure",
	"student",     "study",	      "stuff",	     "style",
	"subject",     "success",     "successful",  "such",
	"suddenly",    "suffer",      "suggest",     "summer",
	"sunday",      "support",     "sure",	     "surgery",
	"swedish",     "system",      "table",	     "take",
	"talk",	       "task",	      "tax",	     "teach",
	"teacher",     "team",	      "technology",  "tel",
	"tell",	       "ten",	      "tend",	     "term",
	"terrible",    "test",	      "than",	     "thank",
	"thanks",      "that",	      "the",	     "their",
	"theirs",      "them",	      "themselves",  "then",
	"there",       "these",	      "they",	     "thing",
	"things",      "think",	      "third",	     "this",
	"those",       "though",      "thought",     "thousand",
	"three",       "through",     "throughout",  "throw",
	"thursday",    "thus",	      "time",	     "to",
	"today",       "together",    "tomorrow",    "tonight",
	"too",	       "total",	      "tough",	     "toward",
	"town",	       "trade",	      "traditional", "training",
	"travel",      "treat",	      "treatment",   "tree",
	"trial",       "trip",	      "trouble",     "true",
	"truth",       "try",	      "tuesday",     "turn",
	"tv",	       "two",	      "type",	     "under",
	"understand",  "unit",	      "unless",	     "until",
	"up",	       "us",	      "usually",     "value",
	"various",     "very",	      "view",	     "visit",
	"voice",       "vote",	      "wait",	     "walk",
	"wall",	       "want",	      "war",	     "was",
	"watch",       "water",	      "way",	     "we",
	"weapon",      "wear",	      "wednesday",   "week",
	"weight",      "well",	      "were",	     "west",
	"what",	       "whatever",    "when",	     "where",
	"whether",     "which",	      "while",	     "white",
	"who",	       "whole",	      "whom",	     "why",
	"wide",	       "wife",	      "will",	     "win",
	"window",      "wish",	      "with",	     "within",
	"without",     "woman",	      "women",	     "wonder",
	"word",	       "work",	      "worker",	     "world",
	"worry",       "would",	      "write",	     "writer",
	"wrong",       "yeah",	      "year",	     "years",
	"yes",	       "yesterday",   "yet",	     "you",
	"young",       "your",	      "yours",	     "yourself",
};

/* A compact list of common first names (some also English words): one
 * is a name in any case, and makes a stop word before a surname a name. */
static const char *const first_names[] = {
	"aaron",     "adam",	 "adrian",    "ahmed",	   "aisha",
	"alan",	     "albert",	 "alex",      "alexander", "alice",
	"alina",     "amanda",	 "amelia",    "amy",	   "ana",
	"andrea",    "andrew",	 "angela",    "anna",	   "anne",
	"anton",     "antonio",	 "april",     "arthur",	   "august",
	"barbara",   "ben",	 "benjamin",  "bertram",   "betty",
	"bill",	     "brian",	 "bruce",     "carl",	   "carlos",
	"carmen",    "carol",	 "caroline",  "catherine", "charles",
	"charlotte", "chris",	 "christian", "christina", "christopher",
	"claire",    "clara",	 "daniel",    "david",	   "dawn",
	"deborah",   "dennis",	 "diana",     "diego",	   "dmitri",
	"donald",    "dorothy",	 "edward",    "elena",	   "elizabeth",
	"ella",	     "emily",	 "emma",      "eric",	   "erik",
	"eva",	     "faith",	 "fatima",    "felix",	   "fernando",
	"frank",     "franz",	 "fred",      "george",	   "gloria",
	"grace",     "hannah",	 "hans",      "harry",	   "helen",
	"henry",     "hope",	 "hugo",      "ian",	   "igor",
	"irina",     "iris",	 "isabel",    "ivan",	   "jack",
	"jacob",     "james",	 "jan",	      "jane",	   "jason",
	"jean",	     "jennifer", "jessica",   "joan",	   "johan",
	"john",	     "jonas",	 "jorge",     "jose",	   "joseph",
	"joy",	     "juan",	 "julia",     "june",	   "karen",
	"karl",	     "kate",	 "katherine", "kevin",	   "klaus",
	"lars",	     "laura",	 "leo",	      "linda",	   "lisa",
	"lucas",     "lucy",	 "luis",      "maria",	   "marie",
	"mario",     "mark",	 "martin",    "mary",	   "matthew",
	"may",	     "maya",	 "michael",   "mika",	   "mike",
	"mohammed",  "nadia",	 "naomi",     "natalia",   "nicole",
	"nina",	     "noah",	 "olga",      "oliver",	   "olivia",
	"omar",	     "pablo",	 "patricia",  "paul",	   "pedro",
	"peter",     "pierre",	 "rachel",    "ricardo",   "richard",
	"robert",    "rose",	 "ryan",      "sam",	   "samuel",
	"sandra",    "sara",	 "sarah",     "sergei",	   "sofia",
	"sophie",    "stefan",	 "stephen",   "susan",	   "thomas",
	"tom",	     "tracy",	 "victor",    "wei",	   "will",
	"william",   "yuki",	 "yusuf",     "zoe",
};

/* Words that announce a name after them. */
static const char *const name_cues[] = {
	"dr", "dr.", "madam", "miss",	 "mr",	 "mr.",	  "mrs", "mrs.",
	"ms", "ms.", "mx",    "patient", "prof", "prof.", "sir",
};

/* Street words: a number before or after them makes an address. */
static const char *const street_words[] = {
	"allee", "alley",     "av",	"ave",	  "avenida", "avenue",
	"blvd",	 "boulevard", "calle",	"circle", "close",   "court",
	"cres",	 "crescent",  "dr",	"drive",  "gade",    "gasse",
	"gata",	 "highway",   "hwy",	"katu",	  "lane",    "ln",
	"pass",	 "piazza",    "pl",	"place",  "plaza",   "rd",
	"road",	 "rua",	      "rue",	"sq",	  "square",  "st",
	"str",	 "strasse",   "straße", "street", "terrace", "terrasse",
	"tie",	 "trg",	      "tér",	"u",	  "ul",	     "utca",
	"vej",	 "via",	      "way",	"út",
};

/* Words before a unit or box number. */
static const char *const unit_words[] = {
	"apartment", "apt",  "box", "fl",    "floor", "no",
	"po",	     "room", "ste", "suite", "unit",
};

/* Words that open a place name: "New Zealand", "South Africa". */
static const char *const place_prefixes[] = {
	"east",	 "fort", "lake",  "lower", "mount",  "new",   "north", "port",
	"saint", "san",	 "santa", "south", "united", "upper", "west",
};

static const char *const months[] = {
	"apr",	    "april",	"aug",	   "august",  "dec",  "december",
	"feb",	    "february", "jan",	   "january", "jul",  "july",
	"jun",	    "june",	"mar",	   "march",   "may",  "nov",
	"november", "oct",	"october", "sep",     "sept", "september",
};

static const char *const tlds[] = {
	"at", "au",  "be", "biz",  "br",  "ca", "ch", "cn",  "co", "com",
	"cy", "cz",  "de", "dk",   "edu", "es", "eu", "fi",  "fr", "gov",
	"hu", "ie",  "in", "info", "io",  "it", "jp", "net", "nl", "no",
	"nz", "org", "pl", "pt",   "ru",  "se", "si", "uk",  "us",
};

static int cmp_word(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether the word (n bytes, any case) is in the sorted list. */
static bool in_list(const char *const *list, size_t len, const char *w,
		    size_t n)
{
	char low[SCRUB_WORD_BYTES_MAX + 1];
	const char *key = low;
	size_t i;

	if (n == 0 || n > SCRUB_WORD_BYTES_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];

		low[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	low[n] = 0;
	return bsearch(&key, list, len, sizeof(*list), cmp_word) != NULL;
}

bool anon_scrub_word_is(enum scrub_list which, const char *w, size_t n)
{
	switch (which) {
	case SCRUB_STOP:
		return in_list(stop_words, MM_ARRAY_LEN(stop_words), w, n);
	case SCRUB_FIRST_NAME:
		return in_list(first_names, MM_ARRAY_LEN(first_names), w, n);
	case SCRUB_CUE:
		return in_list(name_cues, MM_ARRAY_LEN(name_cues), w, n);
	case SCRUB_STREET:
		return in_list(street_words, MM_ARRAY_LEN(street_words), w, n);
	case SCRUB_UNIT:
		return in_list(unit_words, MM_ARRAY_LEN(unit_words), w, n);
	case SCRUB_MONTH:
		return in_list(months, MM_ARRAY_LEN(months), w, n);
	case SCRUB_PLACE_PREFIX:
		return in_list(place_prefixes, MM_ARRAY_LEN(place_prefixes), w,
			       n);
	case SCRUB_TLD:
		return in_list(tlds, MM_ARRAY_LEN(tlds), w, n);
	}
	return false;
}

bool anon_scrub_lists_sorted(void)
{
	const char *const *l[] = {stop_words,	first_names, name_cues,
				  street_words, unit_words,  months,
				  tlds};
	const size_t n[] = {
		MM_ARRAY_LEN(stop_words), MM_ARRAY_LEN(first_names),
		MM_ARRAY_LEN(name_cues),  MM_ARRAY_LEN(street_words),
		MM_ARRAY_LEN(unit_words), MM_ARRAY_LEN(months),
		MM_ARRAY_LEN(tlds)};
	size_t i, j;

	for (i = 0; i < MM_ARRAY_LEN(l); i++) {
		for (j = 1; j < n[i]; j++) {
			if (strcmp(l[i][j - 1], l[i][j]) >= 0)
				return false;
		}
	}
	return true;
}
