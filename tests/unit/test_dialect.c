/*
 * test_dialect.c - the dialect sniffer (transforms/dialect.c): delimiter and
 * quote choice, preamble and comment lines, trailing delimiters, the header
 * rule, single-column files, samples cut mid-line and mid-quote, and what
 * is not a table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "reader.h"
#include "unit.h"

struct want {
	char delimiter, quote;
	int header;
	unsigned skip_lines;
	char comment;
	int trailing;
};

static void expect(const char *in, size_t len, int at_eof, struct want w, int line)
{
	struct mfs_csv_dialect d;
	int r;

	memset(&d, 0x55, sizeof(d));
	r = mfs_dialect_sniff(in, len, at_eof, &d);
	CHECK_MSG(r == 0, "line %d: %d %s", line, r, mfs_last_error());
	if (r)
		return;
	CHECK_MSG(d.delimiter == w.delimiter && d.quote == w.quote && d.header == w.header &&
			  d.skip_lines == w.skip_lines && d.comment == w.comment &&
			  d.trailing_delimiter == w.trailing,
		  "line %d: got delimiter 0x%02x quote 0x%02x header %d skip %llu comment 0x%02x "
		  "trailing %d",
		  line, (unsigned char)d.delimiter, (unsigned char)d.quote, d.header,
		  (unsigned long long)d.skip_lines, (unsigned char)d.comment,
		  d.trailing_delimiter);
}

#define W(...) ((struct want){ __VA_ARGS__ })
#define SNIFF(in, ...) expect(in, sizeof(in) - 1, 1, W(__VA_ARGS__), __LINE__)
#define SNIFF_CUT(in, ...) expect(in, sizeof(in) - 1, 0, W(__VA_ARGS__), __LINE__)

static void not_a_table(const char *in, size_t len, int line)
{
	struct mfs_csv_dialect d;
	int r;

	mfs_clear_error();
	r = mfs_dialect_sniff(in, len, 1, &d);
	CHECK_MSG(r == -EINVAL && !strncmp(mfs_last_error(), "not a table: ", 13),
		  "line %d: %d '%s'", line, r, mfs_last_error());
}

#define NOT_A_TABLE(in) not_a_table(in, sizeof(in) - 1, __LINE__)

static void test_delimiters(void)
{
	SNIFF("id,name,amount\n1,a,2.5\n2,b,3\n", ',', '"', 1, 0, 0, 0);
	SNIFF("id;name;amount\r\n1;a;2,5\r\n2;b;3,75\r\n", ';', '"', 1, 0, 0, 0);
	SNIFF("id\tname\tamount\n1\ta b\t2.5\n2\tc, d\t3\n", '\t', '"', 1, 0, 0, 0);
	SNIFF("id|name|amount\n1|a|2.5\n2|b|3\n", '|', '"', 1, 0, 0, 0);
	/* decimal commas in every row: still ';', which covers every row */
	SNIFF("a;b;c\n1,5;2,5;3,5\n4,5;5,5;6,5\n", ';', '"', 1, 0, 0, 0);
	/* commas only inside quotes: the quote explains them */
	SNIFF("name,address\n\"Doe, J\",\"1 Main St, Springfield\"\n\"Roe, R\",\"x\"\n", ',', '"', 1,
	      0, 0, 0);
	/* quoted fields with line breaks and doubled quotes */
	SNIFF("k,v\n1,\"line\nbreak\"\n2,\"say \"\"hi\"\"\"\n3,x\n", ',', '"', 1, 0, 0, 0);
	/* ragged rows: the width of most rows wins, the rest stay for silver */
	SNIFF("a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n13,14,15\n", ',', '"', 1, 0, 0, 0);
	/* a quote in the middle of a field opens nothing */
	SNIFF("size,item\n5\" pipe,a\n3\" nail,b\n2,c\n", ',', '"', 1, 0, 0, 0);
	/* ties: more columns first, then the order , ; \t | */
	SNIFF("a,b;c\n1,2;3\n", ',', '"', 1, 0, 0, 0);
	SNIFF("a|b,c|d\nx|y,z|w\nu|v,s|t\n", '|', '"', 1, 0, 0, 0);
}

static void test_preamble_comments(void)
{
	SNIFF("Sales report\nGenerated: 2024-01-01\n\nid,amount\n1,2\n2,3\n3,4\n", ',', '"', 1, 3, 0,
	      0);
	SNIFF("Exported by tool, version 2, on host x, at noon\nid,amount\n1,2\n2,3\n", ',', '"', 1,
	      1, 0, 0);
	/* '#' lines: above the table, and inside it */
	SNIFF("# exported by x\nid,v\n1,2\n2,3\n", ',', '"', 1, 0, '#', 0);
	SNIFF("id,v\n1,2\n# subtotal\n3,4\n5,6\n", ',', '"', 1, 0, '#', 0);
	/* a header that starts with '#' is no comment */
	SNIFF("#,name\n1,a\n2,b\n", ',', '"', 1, 0, 0, 0);
}

static void test_trailing(void)
{
	SNIFF("a,b,\n1,2,\n3,4,\n", ',', '"', 1, 0, 0, 1);
	SNIFF("a;b;\r\n1;2;\r\n3;\"x\";\r\n", ';', '"', 1, 0, 0, 1);
	/* one line without it: the empty last column is real */
	SNIFF("a,b,c\n1,2,\n3,4,5\n", ',', '"', 1, 0, 0, 0);
	/* an empty quoted last field is a value */
	SNIFF("a,b,\n1,2,\"\"\n3,4,\n", ',', '"', 1, 0, 0, 0);
}

static void test_header(void)
{
	/* typed values below a text row */
	SNIFF("x,y\n1,2\n3,4\n", ',', '"', 1, 0, 0, 0);
	SNIFF("when,ok\n2024-01-02,true\n2024-01-03,false\n", ',', '"', 1, 0, 0, 0);
	SNIFF("name,price\napple,$1.50\npear,(2.00)\n", ',', '"', 1, 0, 0, 0);
	/* no header: the first row has a number, or everything is numbers */
	SNIFF("1,2\n3,4\n", ',', '"', 0, 0, 0, 0);
	SNIFF("a,2\nb,3\n", ',', '"', 0, 0, 0, 0);
	/* all text: distinct names that do not come again below */
	SNIFF("city,country\nParis,France\nBerlin,Germany\n", ',', '"', 1, 0, 0, 0);
	SNIFF("x,x\na,b\nc,d\n", ',', '"', 0, 0, 0, 0);
	SNIFF("red,big\nblue,small\nred,tiny\n", ',', '"', 0, 0, 0, 0);
	SNIFF("a,,c\nd,e,f\n", ',', '"', 0, 0, 0, 0);
	/* pandas: an empty first name over an index column */
	SNIFF(",name,amount\n0,a,1.5\n1,b,2\n", ',', '"', 1, 0, 0, 0);
	/* null tokens below say nothing */
	SNIFF("k,v\nx,NA\ny,\nz,7\n", ',', '"', 1, 0, 0, 0);
	/* header only, or one data row */
	SNIFF("id,name,amount\n", ',', '"', 1, 0, 0, 0);
	SNIFF("id,name,amount", ',', '"', 1, 0, 0, 0);
	SNIFF("1,2.5,2024-01-01\n", ',', '"', 0, 0, 0, 0);
}

static void test_single_column(void)
{
	/* lines of text, with commas here and there: one column, and no
	 * delimiter that occurs in it */
	SNIFF("note\nhello, world\nplain\nthree, commas, here\n", ';', '"', 1, 0, 0, 0);
	SNIFF("n\n1\n2\n3\n", ',', '"', 1, 0, 0, 0);
	SNIFF("5\n6\n", ',', '"', 0, 0, 0, 0);
}

static void test_cut_sample(void)
{
	/* the last line is cut: it does not count */
	SNIFF_CUT("a,b\n1,2\n3,4\n5,6,7,8,9,10,11", ',', '"', 1, 0, 0, 0);
	/* cut inside a quoted field that spans lines */
	SNIFF_CUT("a,b\n1,\"x\ny\"\n3,4\n5,\"multi\nline; | ;", ',', '"', 1, 0, 0, 0);
	/* no line end at all: the piece there is */
	SNIFF_CUT("a;b;c", ';', '"', 1, 0, 0, 0);
}

static void test_empty(void)
{
	SNIFF("", ',', '"', 1, 0, 0, 0);
	SNIFF("\n\r\n\n", ',', '"', 1, 0, 0, 0);
}

static void test_not_a_table(void)
{
	static const char nul[] = "a,b\n1,\0\n";
	char bin[1024];
	size_t i;

	not_a_table(nul, sizeof(nul) - 1, __LINE__);
	/* a few NUL bytes in a table are damage in some rows, not binary data */
	{
		char t[2048];
		size_t len = (size_t)sprintf(t, "id,name\n");
		struct mfs_csv_dialect d;

		for (i = 0; i < 60; i++)
			len += (size_t)sprintf(t + len, "%zu,name %zu\n", i, i);
		t[20] = t[200] = t[400] = '\0';
		CHECK(mfs_dialect_sniff(t, len, 1, &d) == 0 && d.delimiter == ',' && d.header == 1);
	}
	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (char)(i % 3 ? 'x' : 1 + i % 30);
	not_a_table(bin, sizeof(bin), __LINE__);
	/* C1 controls: binary read as Latin-1 */
	for (i = 0; i + 1 < sizeof(bin); i += 2) {
		bin[i] = (char)0xC2;
		bin[i + 1] = (char)(0x80 + i % 32);
	}
	not_a_table(bin, sizeof(bin), __LINE__);
	/* every delimiter occurs, never twice alike */
	NOT_A_TABLE("a,;\t|b\n,,;;\t\t||\n,,,;;;\t\t\t|||\n");
}

/* A big sample of a clean file is sniffed quickly and right. */
static void test_big_sample(void)
{
	size_t cap = 1 << 20, len = 0;
	char *s = malloc(cap + 64);
	struct mfs_csv_dialect d;
	int i;

	if (!s) {
		CHECK(0);
		return;
	}
	len = (size_t)sprintf(s, "id|ts|amount|note\n");
	for (i = 0; len < cap; i++)
		len += (size_t)sprintf(s + len, "%d|2024-01-%02d 10:00|%d.%02d|\"n %d\"\n", i, 1 + i % 28,
				       i, i % 100, i);
	CHECK(mfs_dialect_sniff(s, cap, 0, &d) == 0);
	CHECK(d.delimiter == '|' && d.quote == '"' && d.header == 1 && d.skip_lines == 0);
	free(s);
}

/* A quoted field longer than the sample: -EAGAIN until the sample holds it,
 * then the quote wins over quote=none, whose pieces of the field look like
 * rows of three columns (the hostile corpus's long_field.csv). */
static void test_field_longer_than_sample(void)
{
	size_t cap = 600 * 1024, len, sample = 64 * 1024;
	char *s = malloc(cap + 64);
	struct mfs_csv_dialect d;
	int r;

	if (!s) {
		CHECK(0);
		return;
	}
	len = (size_t)sprintf(s, "id,text\n1,short\n2,\"");
	while (len < cap)
		len += (size_t)sprintf(s + len, "abcdefghij klmnopqrstuvwxyz 0123456789,\n\"\", ");
	len += (size_t)sprintf(s + len, "\"\n3,after\n");
	while ((r = mfs_dialect_sniff(s, sample, sample == len, &d)) == -EAGAIN) {
		CHECK(sample < len);
		sample = sample * 2 < len ? sample * 2 : len;
	}
	CHECK_MSG(r == 0 && sample == len, "%d at %zu of %zu", r, sample, len);
	CHECK(d.delimiter == ',' && d.quote == '"' && d.header == 1 && d.skip_lines == 0 &&
	      !d.trailing_delimiter);
	/* a sample of the maximum size, or the whole input, decides as it is */
	CHECK(mfs_dialect_sniff(s, 64 * 1024, 1, &d) != -EAGAIN);
	/* a field cut in the second half of the sample is a partial last row: no -EAGAIN */
	len = (size_t)sprintf(s, "a,b\n");
	while (len < 4000)
		len += (size_t)sprintf(s + len, "1,x\n");
	len += (size_t)sprintf(s + len, "2,\"open\nfield");
	CHECK(mfs_dialect_sniff(s, len, 0, &d) == 0 && d.delimiter == ',');
	free(s);
}

int main(void)
{
	test_field_longer_than_sample();
	test_delimiters();
	test_preamble_comments();
	test_trailing();
	test_header();
	test_single_column();
	test_cut_sample();
	test_empty();
	test_not_a_table();
	test_big_sample();
	return unit_done("dialect");
}
