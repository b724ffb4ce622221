"""The filter and PATCH path parser: RFC 7644 examples, IdP shapes, leniencies and errors."""

from __future__ import annotations

import time

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from scim_server.errors import InvalidFilterError, InvalidPathError
from scim_server.filters import (
    And,
    AttrPath,
    Compare,
    CompareOp,
    CompValue,
    Filter,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
    parse_attr_path,
    parse_filter,
    parse_path,
)
from scim_server.filters.parser import _one_comparison, _parse_filter, split_one_comparison
from scim_server.schema.catalog import USER_RESOURCE_TYPE

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LEGACY = "urn:scim:schemas:extension:enterprise:1.0"
URIS = USER_RESOURCE_TYPE.schema_uris
MEMBER = "2819c223-7f76-453a-919d-413861904646"
CERT = "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"
EQ, NE, CO, SW, EW = CompareOp.EQ, CompareOp.NE, CompareOp.CO, CompareOp.SW, CompareOp.EW
GT, GE, LT, LE = CompareOp.GT, CompareOp.GE, CompareOp.LT, CompareOp.LE


def a(attr: str, sub: str | None = None, uri: str | None = None) -> AttrPath:
    return AttrPath(uri, attr, sub)


def cmp(attr: str, op: CompareOp, value: CompValue, sub: str | None = None) -> Compare:
    return Compare(a(attr, sub), op, value)


def test_catalog_offers_the_uris_the_tests_rely_on() -> None:
    assert set(URIS) == {CORE, ENTERPRISE, LEGACY}


# --- RFC 7644 §3.4.2.2 and §3.4.3 examples --------------------------------------------------------

RFC_FILTERS: list[tuple[str, Filter]] = [
    ('userName eq "bjensen"', cmp("userName", EQ, "bjensen")),
    ('name.familyName co "O\'Malley"', cmp("name", CO, "O'Malley", "familyName")),
    ('userName sw "J"', cmp("userName", SW, "J")),
    (f'{CORE}:userName sw "J"', Compare(a("userName", uri=CORE), SW, "J")),
    ("title pr", Present(a("title"))),
    ('meta.lastModified gt "2011-05-13T04:42:34Z"', cmp("meta", GT, "2011-05-13T04:42:34Z", "lastModified")),
    ('meta.lastModified ge "2011-05-13T04:42:34Z"', cmp("meta", GE, "2011-05-13T04:42:34Z", "lastModified")),
    ('meta.lastModified lt "2011-05-13T04:42:34Z"', cmp("meta", LT, "2011-05-13T04:42:34Z", "lastModified")),
    ('meta.lastModified le "2011-05-13T04:42:34Z"', cmp("meta", LE, "2011-05-13T04:42:34Z", "lastModified")),
    ('title pr and userType eq "Employee"', And((Present(a("title")), cmp("userType", EQ, "Employee")))),
    ('title pr or userType eq "Intern"', Or((Present(a("title")), cmp("userType", EQ, "Intern")))),
    (f'schemas eq "{ENTERPRISE}"', cmp("schemas", EQ, ENTERPRISE)),
    (
        'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
        And(
            (
                cmp("userType", EQ, "Employee"),
                Or((cmp("emails", CO, "example.com"), cmp("emails", CO, "example.org", "value"))),
            )
        ),
    ),
    (
        'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
        And(
            (
                cmp("userType", NE, "Employee"),
                Not(Or((cmp("emails", CO, "example.com"), cmp("emails", CO, "example.org", "value")))),
            )
        ),
    ),
    (
        'userType eq "Employee" and (emails.type eq "work")',
        And((cmp("userType", EQ, "Employee"), cmp("emails", EQ, "work", "type"))),
    ),
    (
        'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
        And(
            (
                cmp("userType", EQ, "Employee"),
                ValuePath(a("emails"), And((cmp("type", EQ, "work"), cmp("value", CO, "@example.com")))),
            )
        ),
    ),
    (
        'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
        Or(
            (
                ValuePath(a("emails"), And((cmp("type", EQ, "work"), cmp("value", CO, "@example.com")))),
                ValuePath(a("ims"), And((cmp("type", EQ, "xmpp"), cmp("value", CO, "@foo.com")))),
            )
        ),
    ),
    ('displayName sw "smith"', cmp("displayName", SW, "smith")),
]


@pytest.mark.parametrize(("text", "expected"), RFC_FILTERS, ids=[text for text, _ in RFC_FILTERS])
def test_rfc7644_filter_examples_parse(text: str, expected: Filter) -> None:
    assert parse_filter(text, schema_uris=URIS) == expected


def test_core_urn_attribute_splits_without_known_uris() -> None:
    assert parse_filter(f'{CORE}:userName sw "J"') == Compare(a("userName", uri=CORE), SW, "J")


# --- Identity provider filter shapes --------------------------------------------------------------

IDP_FILTERS: list[tuple[str, Filter]] = [
    ("externalId eq jyoung", cmp("externalId", EQ, "jyoung")),
    (
        'externalId eq "2a69c9a6-0b8e-4b0e-9d3e-6f4c2e1b0a11"',
        cmp("externalId", EQ, "2a69c9a6-0b8e-4b0e-9d3e-6f4c2e1b0a11"),
    ),
    ("userName eq 5b50abc", cmp("userName", EQ, "5b50abc")),
    ('userName eq "Test_User_00aa00aa"', cmp("userName", EQ, "Test_User_00aa00aa")),
    ('username Eq "%s"', cmp("username", EQ, "%s")),
    ('email Co "x"', cmp("email", CO, "x")),
    ('displayName eq "displayName"', cmp("displayName", EQ, "displayName")),
    ('id eq "x"', cmp("id", EQ, "x")),
    (
        '(ActiVe eq true) and meta.lastmodified ge "2021-09-23T19:35:41.8420572Z"',
        And((cmp("ActiVe", EQ, True), cmp("meta", GE, "2021-09-23T19:35:41.8420572Z", "lastmodified"))),
    ),
    (
        'active eq true and (meta.lastModified ge "0001-01-03T00:00:00.0000000Z" '
        'and meta.lastModified le "2024-01-01T00:00:00Z")',
        And(
            (
                cmp("active", EQ, True),
                cmp("meta", GE, "0001-01-03T00:00:00.0000000Z", "lastModified"),
                cmp("meta", LE, "2024-01-01T00:00:00Z", "lastModified"),
            )
        ),
    ),
    (
        'emails[type eq "work"].value eq "user@contoso.com"',
        ValuePath(a("emails"), And((cmp("type", EQ, "work"), cmp("value", EQ, "user@contoso.com")))),
    ),
    ('id eq "x" and manager eq "y"', And((cmp("id", EQ, "x"), cmp("manager", EQ, "y")))),
    (
        f"{ENTERPRISE}:manager.value eq 271",
        Compare(a("manager", "value", ENTERPRISE), EQ, 271),
    ),
    (f'{ENTERPRISE}.manager eq "271"', Compare(a("manager", uri=ENTERPRISE), EQ, "271")),
    (f'{LEGACY}.department eq "Sales"', Compare(a("department", uri=LEGACY), EQ, "Sales")),
]


@pytest.mark.parametrize(("text", "expected"), IDP_FILTERS, ids=[text for text, _ in IDP_FILTERS])
def test_identity_provider_filter_shapes_parse(text: str, expected: Filter) -> None:
    assert parse_filter(text, schema_uris=URIS) == expected


# --- Precedence, flattening, keywords -------------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    assert parse_filter("a pr or b pr and c pr or d pr") == Or(
        (Present(a("a")), And((Present(a("b")), Present(a("c")))), Present(a("d")))
    )


def test_not_binds_tighter_than_and() -> None:
    assert parse_filter("not (a pr) and b pr") == And((Not(Present(a("a"))), Present(a("b"))))


def test_parentheses_override_precedence() -> None:
    assert parse_filter("(a pr or b pr) and c pr") == And(
        (Or((Present(a("a")), Present(a("b")))), Present(a("c")))
    )


def test_and_chain_is_one_n_ary_node() -> None:
    assert parse_filter("a pr and b pr and c pr") == And((Present(a("a")), Present(a("b")), Present(a("c"))))


def test_parenthesised_and_chain_flattens_into_outer_and() -> None:
    assert parse_filter("(a pr and b pr) and c pr") == And(
        (Present(a("a")), Present(a("b")), Present(a("c")))
    )


def test_or_chain_is_one_n_ary_node() -> None:
    assert parse_filter("a pr or (b pr or c pr)") == Or((Present(a("a")), Present(a("b")), Present(a("c"))))


def test_redundant_parentheses_vanish() -> None:
    assert parse_filter("((((title pr))))") == Present(a("title"))


def test_not_keeps_parenthesised_filter() -> None:
    assert parse_filter('not(not (userName eq "x"))') == Not(Not(cmp("userName", EQ, "x")))


@pytest.mark.parametrize("op", list(CompareOp))
def test_every_compare_op_parses_in_any_case(op: CompareOp) -> None:
    for spelling in (op.value, op.value.upper(), op.value.capitalize()):
        assert parse_filter(f'x {spelling} "v"') == cmp("x", op, "v")


def test_logical_keywords_and_pr_are_case_insensitive() -> None:
    assert parse_filter("a PR AND b Pr Or NOT (c pR)") == Or(
        (And((Present(a("a")), Present(a("b")))), Not(Present(a("c"))))
    )


def test_attribute_names_keep_their_spelling() -> None:
    assert parse_filter("NAME.GivenName pr") == Present(a("NAME", "GivenName"))


def test_dollar_ref_is_a_valid_name() -> None:
    assert parse_filter('members.$ref eq "x"') == cmp("members", EQ, "x", "$ref")


def test_extra_whitespace_anywhere_between_tokens_is_tolerated() -> None:
    assert parse_filter('\t userName \n  eq\t\t"x"\r\n  and (  b  pr  )  ') == And(
        (cmp("userName", EQ, "x"), Present(a("b")))
    )


def test_missing_space_before_string_and_around_parentheses_is_accepted() -> None:
    assert parse_filter('(userName eq"x")and(b pr)') == And((cmp("userName", EQ, "x"), Present(a("b"))))


def test_missing_space_between_words_is_an_unknown_operator() -> None:
    with pytest.raises(InvalidFilterError) as caught:
        parse_filter("title prand b pr")
    assert caught.value.detail == "unknown operator 'prand' at position 6"


# --- Comparison values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("False", False),
        ("null", None),
        ("NULL", None),
        ("1", 1),
        ("-2", -2),
        ("0", 0),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("-2.5E-1", -0.25),
        ('"true"', "true"),
        ('"1"', "1"),
        ('"True"', "True"),
        ('""', ""),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
        ("01", "01"),
        ("1.", "1."),
        (".5", ".5"),
        ("+1", "+1"),
        ("jyoung", "jyoung"),
        ("2021-09-23T19:35:41.8420572Z", "2021-09-23T19:35:41.8420572Z"),
        ("a(b", "a(b"),
        ("it's\"ok", "it's\"ok"),
        ('"tab\\there \\u00e9 \\ud83d\\ude00"', "tab\there é \U0001f600"),
    ],
)
def test_comparison_values_decode(source: str, value: CompValue) -> None:
    result = parse_filter(f"x eq {source}")
    assert result == cmp("x", EQ, value)
    assert isinstance(result, Compare)
    assert type(result.value) is type(value)


def test_bare_value_stops_at_closing_paren_and_bracket() -> None:
    assert parse_filter("(x eq abc) and e[type eq work]") == And(
        (cmp("x", EQ, "abc"), ValuePath(a("e"), cmp("type", EQ, "work")))
    )


def test_value_may_be_a_keyword_spelled_word() -> None:
    assert parse_filter("x eq and") == cmp("x", EQ, "and")


# --- Value paths in filters -----------------------------------------------------------------------


def test_value_path_with_or_and_not_inside_brackets() -> None:
    assert parse_filter('emails[type eq "work" or not (primary eq false)]') == ValuePath(
        a("emails"), Or((cmp("type", EQ, "work"), Not(cmp("primary", EQ, False))))
    )


def test_value_path_followed_by_sub_attribute_present() -> None:
    assert parse_filter('emails[type eq "work"].value pr') == ValuePath(
        a("emails"), And((cmp("type", EQ, "work"), Present(a("value"))))
    )


def test_value_path_sub_attribute_joins_an_and_bracket_filter() -> None:
    assert parse_filter('emails[type eq "work" and primary eq true].value eq "x"') == ValuePath(
        a("emails"), And((cmp("type", EQ, "work"), cmp("primary", EQ, True), cmp("value", EQ, "x")))
    )


def test_value_path_sub_attribute_keeps_an_or_bracket_filter_whole() -> None:
    assert parse_filter('emails[type eq "a" or type eq "b"].value eq "x"') == ValuePath(
        a("emails"), And((Or((cmp("type", EQ, "a"), cmp("type", EQ, "b"))), cmp("value", EQ, "x")))
    )


def test_value_path_with_urn_qualified_attribute() -> None:
    assert parse_filter(f'{CORE}:emails[type eq "work"]', schema_uris=URIS) == ValuePath(
        a("emails", uri=CORE), cmp("type", EQ, "work")
    )


def test_value_path_inside_not() -> None:
    assert parse_filter('not (emails[type eq "work"])') == Not(
        ValuePath(a("emails"), cmp("type", EQ, "work"))
    )


# --- URN handling -------------------------------------------------------------------------------


def test_known_urn_keeps_the_text_spelling() -> None:
    lower = ENTERPRISE.lower()
    assert parse_filter(f"{lower}:EmployeeNumber pr", schema_uris=URIS) == Present(
        a("EmployeeNumber", uri=lower)
    )


def test_unknown_urn_splits_at_the_last_colon() -> None:
    assert parse_filter(
        'urn:ietf:params:scim:schemas:extension:Custom:2.0:User:costCenter.code eq "7"', schema_uris=URIS
    ) == Compare(a("costCenter", "code", "urn:ietf:params:scim:schemas:extension:Custom:2.0:User"), EQ, "7")


def test_legacy_alias_dot_form_without_the_alias_known_is_rejected() -> None:
    with pytest.raises(InvalidFilterError):
        parse_filter(f'{LEGACY}.department eq "x"')


def test_whole_urn_is_not_an_attribute_in_a_filter() -> None:
    with pytest.raises(InvalidFilterError) as caught:
        parse_filter(f"{ENTERPRISE} pr", schema_uris=URIS)
    assert caught.value.detail == f"invalid attribute path '{ENTERPRISE}' at position 0"


# --- Filter errors --------------------------------------------------------------------------------

FILTER_ERRORS: list[tuple[str, str]] = [
    ("", "filter is empty"),
    ("   \t\n", "filter is empty"),
    ("userName eq", "expected a comparison value after 'eq', found end of input at position 11"),
    ("userName", "expected an operator after 'userName', found end of input at position 8"),
    ('userName zz "x"', "unknown operator 'zz' at position 9"),
    ('userName "x"', "expected an operator after 'userName', found '\"x\"' at position 9"),
    (
        'userName eq "x" and',
        "expected an attribute path, '(' or 'not (', found end of input at position 19",
    ),
    ('userName eq "x" or or b pr', "unknown operator 'b' at position 22"),
    ('userName eq "x" title pr', "expected the end of the filter, found 'title' at position 16"),
    ('(userName eq "x"', "expected ')' to close the '(' at position 0, found end of input at position 16"),
    ('userName eq "x")', "expected the end of the filter, found ')' at position 15"),
    ("()", "expected an attribute path, '(' or 'not (', found ')' at position 1"),
    ('emails[type eq "x"', "expected ']' to close the '[' at position 6, found end of input at position 18"),
    ('emails[type eq "x")', "expected ']' to close the '[' at position 6, found ')' at position 18"),
    ('emails type eq "x"]', "unknown operator 'type' at position 7"),
    ('(emails[type eq "x")]', "expected ']' to close the '[' at position 7, found ')' at position 19"),
    ("emails[]", "expected an attribute path, '(' or 'not (', found ']' at position 7"),
    ('userName eq "x', "unterminated string starting at position 12"),
    ('userName eq "\\x"', "invalid escape '\\x' in string at position 13"),
    ('not userName eq "x"', "'not' must be followed by '(' at position 4"),
    ("not", "'not' must be followed by '(' at position 3"),
    ('a[b[c eq "x"]]', "nested '[' in a value filter at position 3"),
    (
        'name.givenName[type eq "x"]',
        "a value filter must follow a multi-valued attribute name, not 'name.givenName' at position 0",
    ),
    ('emails[type eq "x"].value', "expected an operator after '.value', found end of input at position 25"),
    ('emails[type eq "x"].a.b eq 1', "invalid sub-attribute '.a.b' at position 19"),
    ('a..b eq "x"', "invalid attribute path 'a..b' at position 0"),
    ('a.b.c eq "x"', "invalid attribute path 'a.b.c' at position 0"),
    ('1abc eq "x"', "invalid attribute path '1abc' at position 0"),
    ('a-b_c9 eq "x" and -a eq "x"', "invalid attribute path '-a' at position 18"),
    ('"userName" eq "x"', "expected an attribute path, '(' or 'not (', found '\"userName\"' at position 0"),
    ("x eq 1e999", "number out of range at position 5"),
    ("x eq " + "9" * 5000, "number out of range at position 5"),
]


@pytest.mark.parametrize(("text", "detail"), FILTER_ERRORS, ids=[text[:40] for text, _ in FILTER_ERRORS])
def test_invalid_filters_raise_invalid_filter_with_detail(text: str, detail: str) -> None:
    with pytest.raises(InvalidFilterError) as caught:
        parse_filter(text, max_length=10_000)
    assert caught.value.detail == detail
    assert caught.value.scim_type == "invalidFilter"
    assert caught.value.status == 400


def test_filter_longer_than_max_length_is_rejected() -> None:
    text = 'userName eq "' + "x" * 4090 + '"'
    with pytest.raises(InvalidFilterError) as caught:
        parse_filter(text)
    assert caught.value.detail == "filter is longer than 4096 characters"
    assert parse_filter(text, max_length=len(text)) == cmp("userName", EQ, "x" * 4090)


def test_nesting_deeper_than_max_depth_is_rejected() -> None:
    assert parse_filter("(" * 32 + "a pr" + ")" * 32) == Present(a("a"))
    with pytest.raises(InvalidFilterError) as caught:
        parse_filter("(" * 33 + "a pr" + ")" * 33)
    assert caught.value.detail == "filter nesting exceeds 32 levels at position 32"


def test_not_and_brackets_count_towards_depth() -> None:
    text = "not(" * 2 + 'e[type eq "x"]' + ")" * 2
    assert parse_filter(text, max_depth=3) == Not(Not(ValuePath(a("e"), cmp("type", EQ, "x"))))
    with pytest.raises(InvalidFilterError, match="nesting exceeds 2 levels"):
        parse_filter(text, max_depth=2)


@pytest.mark.parametrize("opening", ["(", "not(", "not (", "a[(", "not"])
def test_ten_thousand_nested_openings_fail_fast(opening: str) -> None:
    start = time.perf_counter()
    with pytest.raises(InvalidFilterError):
        parse_filter(opening * 10_000, max_length=1_000_000)
    assert time.perf_counter() - start < 1.0


def test_huge_max_depth_still_gives_invalid_filter_not_recursion_error() -> None:
    with pytest.raises(InvalidFilterError, match="nested too deeply"):
        parse_filter("(" * 100_000 + "a pr" + ")" * 100_000, max_length=10**6, max_depth=10**6)


def test_256_terms_parse_without_recursion() -> None:
    text = " and ".join(f'a{i} eq "{i}"' for i in range(256))
    result = parse_filter(text, max_length=100_000)
    assert result == And(tuple(cmp(f"a{i}", EQ, str(i)) for i in range(256)))


def test_mixed_256_term_chain_parses() -> None:
    text = " or ".join(f"a{i} pr and b{i} pr" for i in range(128))
    result = parse_filter(text, max_length=100_000)
    assert isinstance(result, Or)
    assert len(result.terms) == 128


def test_more_than_max_terms_is_rejected() -> None:
    text = " or ".join(f"a{i} pr" for i in range(257))
    with pytest.raises(InvalidFilterError) as caught:
        parse_filter(text, max_length=100_000)
    assert (
        caught.value.detail == f"filter has more than 256 attribute expressions (at position {len(text) - 2})"
    )


def test_terms_inside_value_paths_count() -> None:
    with pytest.raises(InvalidFilterError, match="more than 2 attribute expressions"):
        parse_filter('e[type eq "work"].value eq "x" and b pr', max_terms=2)


# --- PATCH paths (RFC 7644 §3.5.2) ----------------------------------------------------------------

RFC_PATHS: list[tuple[str, PatchPath]] = [
    ("members", PatchPath(a("members"))),
    ("name.familyName", PatchPath(a("name", "familyName"))),
    ('addresses[type eq "work"]', PatchPath(a("addresses"), cmp("type", EQ, "work"))),
    (f'members[value eq "{MEMBER}"]', PatchPath(a("members"), cmp("value", EQ, MEMBER))),
    (
        f'members[value eq "{MEMBER}"].displayName',
        PatchPath(a("members"), cmp("value", EQ, MEMBER), "displayName"),
    ),
    (
        'emails[type eq "work" and value ew "example.com"]',
        PatchPath(a("emails"), And((cmp("type", EQ, "work"), cmp("value", EW, "example.com")))),
    ),
    (
        'addresses[type eq "work"].streetAddress',
        PatchPath(a("addresses"), cmp("type", EQ, "work"), "streetAddress"),
    ),
    (f'x509Certificates[value eq "{CERT}"]', PatchPath(a("x509Certificates"), cmp("value", EQ, CERT))),
    ("displayName", PatchPath(a("displayName"))),
]


@pytest.mark.parametrize(("text", "expected"), RFC_PATHS, ids=[text for text, _ in RFC_PATHS])
def test_rfc7644_patch_path_examples_parse(text: str, expected: PatchPath) -> None:
    assert parse_path(text, schema_uris=URIS) == expected


IDP_PATHS: list[tuple[str, PatchPath]] = [
    ('emails[type eq "work"].value', PatchPath(a("emails"), cmp("type", EQ, "work"), "value")),
    ('emails[type eq "other"].Value', PatchPath(a("emails"), cmp("type", EQ, "other"), "Value")),
    ('phoneNumbers[type eq "fax"].value', PatchPath(a("phoneNumbers"), cmp("type", EQ, "fax"), "value")),
    (
        'addresses[type eq "untyped"].formatted',
        PatchPath(a("addresses"), cmp("type", EQ, "untyped"), "formatted"),
    ),
    ("active", PatchPath(a("active"))),
    ("name.familyName", PatchPath(a("name", "familyName"))),
    (f"{ENTERPRISE}:employeeNumber", PatchPath(a("employeeNumber", uri=ENTERPRISE))),
    (f"{ENTERPRISE}:manager", PatchPath(a("manager", uri=ENTERPRISE))),
    (f"{ENTERPRISE}:manager.value", PatchPath(a("manager", "value", ENTERPRISE))),
    (f"{ENTERPRISE}.manager", PatchPath(a("manager", uri=ENTERPRISE))),
    (f"{LEGACY}.department", PatchPath(a("department", uri=LEGACY))),
    ("manager", PatchPath(a("manager"))),
    ('roles[primary eq "True"].value', PatchPath(a("roles"), cmp("primary", EQ, "True"), "value")),
    ("roles", PatchPath(a("roles"))),
    ('members[value eq "7f4bc1a3"]', PatchPath(a("members"), cmp("value", EQ, "7f4bc1a3"))),
    (ENTERPRISE, PatchPath(a("", uri=ENTERPRISE))),
    (ENTERPRISE.upper(), PatchPath(a("", uri=ENTERPRISE.upper()))),
    (
        f'{CORE}:emails[type eq "work"].value',
        PatchPath(a("emails", uri=CORE), cmp("type", EQ, "work"), "value"),
    ),
    (
        "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:CustomAttribute",
        PatchPath(
            a("CustomAttribute", uri="urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User")
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), IDP_PATHS, ids=[text for text, _ in IDP_PATHS])
def test_identity_provider_patch_paths_parse(text: str, expected: PatchPath) -> None:
    assert parse_path(text, schema_uris=URIS) == expected


def test_path_keywords_are_case_insensitive_and_whitespace_lenient() -> None:
    assert parse_path(' emails[ type EQ "work"  AND primary eq TRUE ].value ') == PatchPath(
        a("emails"), And((cmp("type", EQ, "work"), cmp("primary", EQ, True))), "value"
    )


PATH_ERRORS: list[tuple[str, str]] = [
    ("", "path is empty"),
    ("  ", "path is empty"),
    ("a..b", "invalid attribute path 'a..b' at position 0"),
    ("a.b.c", "invalid attribute path 'a.b.c' at position 0"),
    ("a.", "invalid attribute path 'a.' at position 0"),
    (".a", "invalid attribute path '.a' at position 0"),
    ("emails[", "expected an attribute path, '(' or 'not (', found end of input at position 7"),
    (
        'emails[type eq "work"',
        "expected ']' to close the '[' at position 6, found end of input at position 21",
    ),
    ("emails]", "expected the end of the path, found ']' at position 6"),
    ('emails[type eq "work"]]', "expected the end of the path, found ']' at position 22"),
    ('emails[type eq "work"]x', "expected the end of the path, found 'x' at position 22"),
    ('emails[type eq "work"].a.b', "invalid sub-attribute '.a.b' at position 22"),
    ('emails[type eq "work"].value.x', "invalid sub-attribute '.value.x' at position 22"),
    ('emails[e[type eq "x"]]', "nested '[' in a value filter at position 8"),
    (
        'name.givenName[type eq "x"]',
        "a value filter must follow a multi-valued attribute name, not 'name.givenName' at position 0",
    ),
    ("userName userName", "expected the end of the path, found 'userName' at position 9"),
    ("(userName)", "expected an attribute path, found '(' at position 0"),
    ('"userName"', "expected an attribute path, found '\"userName\"' at position 0"),
    ('emails[type eq "work]', "unterminated string starting at position 15"),
    ("emails[type zz 1]", "unknown operator 'zz' at position 12"),
    (
        f'{ENTERPRISE}[type eq "x"]',
        f"a value filter must follow a multi-valued attribute name, not '{ENTERPRISE}' at position 0",
    ),
    (
        f"{ENTERPRISE}:",
        "invalid attribute path 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:' at position 0",
    ),
]


@pytest.mark.parametrize(("text", "detail"), PATH_ERRORS, ids=[text[:40] for text, _ in PATH_ERRORS])
def test_invalid_paths_raise_invalid_path_with_detail(text: str, detail: str) -> None:
    with pytest.raises(InvalidPathError) as caught:
        parse_path(text, schema_uris=URIS)
    assert caught.value.detail == detail
    assert caught.value.scim_type == "invalidPath"


def test_deeply_nested_path_filter_is_invalid_path() -> None:
    with pytest.raises(InvalidPathError, match="nesting exceeds 32 levels"):
        parse_path("a[" + "(" * 10_000 + "b pr" + ")" * 10_000 + "]")


# --- attribute paths (sortBy, attributes, excludedAttributes) -------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("userName", a("userName")),
        ("name.familyName", a("name", "familyName")),
        (" meta.lastModified ", a("meta", "lastModified")),
        (f"{ENTERPRISE}:manager.displayName", a("manager", "displayName", ENTERPRISE)),
        (f"{ENTERPRISE}.manager", a("manager", uri=ENTERPRISE)),
        (f"{CORE}:userName", a("userName", uri=CORE)),
        (ENTERPRISE, a("", uri=ENTERPRISE)),
        ("members.$ref", a("members", "$ref")),
    ],
)
def test_attribute_paths_parse(text: str, expected: AttrPath) -> None:
    assert parse_attr_path(text, schema_uris=URIS) == expected


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", "attribute path is empty"),
        (" ", "attribute path is empty"),
        ("a..b", "invalid attribute path 'a..b'"),
        ("a.b.c", "invalid attribute path 'a.b.c'"),
        ("emails[type eq x]", "invalid attribute path 'emails[type eq x]'"),
        ("user name", "invalid attribute path 'user name'"),
    ],
)
def test_invalid_attribute_paths_raise_invalid_path(text: str, detail: str) -> None:
    with pytest.raises(InvalidPathError) as caught:
        parse_attr_path(text, schema_uris=URIS)
    assert caught.value.detail == detail


# The one-comparison shortcut (an IdP's probe) reads exactly what the parser reads.
_SPACES = st.sampled_from(["", " ", "  ", "\t", "\n", "\u00a0", " \r\n\f\v"])
_WORDS = st.one_of(
    st.sampled_from(
        [
            "userName",
            "USERNAME",
            "name.givenName",
            "emails.value",
            "emails[type",
            "meta.lastModified",
            "not",
            "NOT",
            "and",
            "or",
            "pr",
            f"{CORE}:userName",
            f"{ENTERPRISE}:employeeNumber",
            f"{ENTERPRISE}:manager.value",
            f"{LEGACY}:department",
            "urn:unknown:x",
            "1abc",
            "a.b.c",
            "$ref",
            "(userName",
            "userName)",
            'user"Name',
            "",
        ]
    ),
    st.text(alphabet="aZ.:$_-1 (", max_size=6),
)
_OPS = st.sampled_from(
    ["eq", "EQ", "Eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "xx", "e q", ""]
)
_VALUES = st.one_of(
    st.sampled_from(
        ['"x"', '""', '"a b"', '"\\"q"', '"a\\\\b"', '"\\u00e9"', '"\t"', "true", "null", "42", '"x', "x"]
    ),
    st.builds(lambda t: '"' + t + '"', st.text(max_size=8)),
)
_TAILS = st.sampled_from(["", " ", " and userName pr", ' or x eq "y"', ")", "]", '"', " x"])


# Five times the profile's budget: a shortcut that misreads one spelling hides among many near misses.
@settings(max_examples=settings.default.max_examples * 5)
@given(
    parts=st.one_of(
        st.tuples(_SPACES, _WORDS, _SPACES, _OPS, _SPACES, _VALUES, _SPACES, _TAILS),
        # Mostly plausible probes, so that half the examples exercise the shortcut's answers.
        st.tuples(
            _SPACES,
            st.sampled_from(["userName", "name.givenName", f"{ENTERPRISE}:employeeNumber", "nOt", "x.y"]),
            st.sampled_from([" ", "\t", "  "]),
            st.sampled_from(["eq", "SW", "co", "gt", "pr"]),
            _SPACES,
            st.builds(lambda t: '"' + t + '"', st.text(max_size=8)),
            _SPACES,
            st.sampled_from(["", "", "", ")", " and x pr"]),
        ),
    ),
    uris=st.sampled_from([(), tuple(USER_RESOURCE_TYPE.schema_uris)]),
)
def test_the_one_comparison_shortcut_reads_what_the_parser_reads(
    parts: tuple[str, ...], uris: tuple[str, ...]
) -> None:
    text = "".join(parts)
    shortcut = _one_comparison(text, uris)
    try:
        parsed: Filter | None = _parse_filter(text, uris, 32, 256)
    except InvalidFilterError:
        parsed = None
    if shortcut is not None:
        assert shortcut == parsed
        # The shape and the string the service compiles per path and operator come from the same read.
        split = split_one_comparison(text)
        assert split is not None
        assert split[1:] == (shortcut.op.value, shortcut.value)
    event("shortcut" if shortcut is not None else "parser")


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "bjensen@example.com"',
        'externalId eq "00u1abcd"',
        'displayName eq "Sales"',
        f'{ENTERPRISE}:employeeNumber eq "701984"',
        'emails.value co "@example.com"',
        ' userName  EQ"x" ',
    ],
)
def test_an_idp_probe_takes_the_shortcut(text: str) -> None:
    uris = tuple(USER_RESOURCE_TYPE.schema_uris)
    shortcut = _one_comparison(text, uris)

    assert shortcut is not None
    assert shortcut == _parse_filter(text, uris, 32, 256) == parse_filter(text, schema_uris=uris)
