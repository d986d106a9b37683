/*
 * expr_i.h - the insides of the expression language, for the code that
 * builds on it rather than merely using it: pipeline.c (type names in
 * `columns =`), and gold, whose SELECT parser reads its statement with the
 * same lexer, parses each expression of it with mfs_expr_parse_lex(), and
 * finds the aggregate nodes in the bound trees to evaluate them itself.
 *
 * Ownership: a tree belongs to whoever parsed it and is freed with
 * mfs_expr_free(). mfs_expr_bind() writes into the tree (types, column
 * indexes), so one tree must not be bound by two threads at once: a thread
 * that needs its own binding parses its own copy (from the text).
 */
#ifndef MFS_EXPR_I_H
#define MFS_EXPR_I_H

#include <stddef.h>
#include <stdint.h>

#include "expr.h"
#include "value.h"

/* Deepest tree (and deepest parenthesis nesting) accepted: bind, eval and
 * free recurse, so this bounds their stack use. */
#define MFS_EXPR_MAX_DEPTH 256

/* Largest decimal scale a value can carry (value.h). */
#define MFS_DEC_MAX_SCALE 18

/* ---- the lexer ---- */

enum mfs_tok {
	MFS_TOK_EOF = 0,
	MFS_TOK_IDENT,  /* a bare word, keywords included */
	MFS_TOK_QIDENT, /* "quoted identifier"; p/len include the quotes */
	MFS_TOK_STRING, /* 'string'; p/len include the quotes */
	MFS_TOK_INT,    /* 123 */
	MFS_TOK_DEC,    /* 1.50  .5  1. */
	MFS_TOK_DOUBLE, /* 1e3  1.5E-2 */
	MFS_TOK_OP,     /* + - * / % || = == <> != < <= > >= ( ) , . :: ; */
};

struct mfs_token {
	enum mfs_tok kind;
	const char *p;  /* into the text; not NUL-terminated */
	size_t len;
	size_t off;     /* byte offset of p in the text */
	int line, col;  /* 1-based; col counts bytes */
};

/* Comments (-- to the end of the line, and C style) count as white space. */
struct mfs_lexer {
	const char *text;
	size_t len;
	size_t pos;        /* where the next token starts looking */
	int line;
	size_t line_start; /* offset of the current line's first byte */
	struct mfs_token tok; /* the current token */
};

/* Start on @text and read the first token. 0, or -EINVAL with @err. */
int mfs_lex_init(struct mfs_lexer *lx, const char *text, size_t len, struct mfs_expr_error *err);
/* Read the next token into lx->tok. 0, or -EINVAL with @err. */
int mfs_lex_next(struct mfs_lexer *lx, struct mfs_expr_error *err);
/* @t is the bare word @kw (case-insensitive) / the operator @op. */
int mfs_tok_is_kw(const struct mfs_token *t, const char *kw);
int mfs_tok_is_op(const struct mfs_token *t, const char *op);
/* A word that cannot be a bare column name (AND, FROM, CASE ...). */
int mfs_expr_is_reserved(const char *p, size_t len);

/*
 * Parse one expression starting at the current token; stop at the first
 * token that cannot continue it (FROM, AS, ',', ')', EOF ...), which is left
 * current. Positions in the tree and in @err are those of the lexer's text.
 */
int mfs_expr_parse_lex(struct mfs_lexer *lx, struct mfs_expr **out, struct mfs_expr_error *err);

/*
 * A type name as in CAST and in `columns =`: integer|int|bigint,
 * decimal[(p[,s])]|numeric[(p[,s])], double|float|real, boolean|bool, date,
 * timestamp, string|text|varchar[(n)]. Case-insensitive; "decimal" alone is
 * DECIMAL(18,3) as in DuckDB. 0, or -EINVAL with a reason in @err (col
 * relative to @text).
 */
int mfs_expr_parse_type(const char *text, size_t len, enum mfs_type *type, int *scale,
			struct mfs_expr_error *err);

/* "BIGINT", "DECIMAL(18,2)", "VARCHAR"... into @buf (at least 24 bytes). */
const char *mfs_expr_type_name(enum mfs_type t, int scale, char *buf, size_t len);

/* ---- the tree ---- */

enum mfs_expr_kind {
	MFS_E_LITERAL,
	MFS_E_COLUMN,
	MFS_E_NEG,     /* kids[0] */
	MFS_E_NOT,     /* kids[0] */
	MFS_E_AND,     /* kids[0], kids[1] */
	MFS_E_OR,
	MFS_E_ARITH,   /* op: MFS_OP_ADD..MFS_OP_MOD */
	MFS_E_CONCAT,  /* || */
	MFS_E_CMP,     /* op: MFS_OP_EQ..MFS_OP_GE */
	MFS_E_IS_NULL, /* kids[0]; negated: IS NOT NULL */
	MFS_E_IN,      /* kids[0] IN (kids[1..]); negated */
	MFS_E_LIKE,    /* value, pattern[, escape]; negated; op = 1 for ILIKE */
	MFS_E_BETWEEN, /* value, low, high; negated */
	MFS_E_CASE,    /* [operand] (when, then)... [else]; has_operand, has_else */
	MFS_E_CAST,    /* kids[0] to cast_type/cast_scale; op = 1 for TRY_CAST */
	MFS_E_CALL,    /* op: enum mfs_expr_fn */
	MFS_E_AGG,     /* op: enum mfs_expr_agg; kids: [argument]; distinct */
};

enum mfs_expr_op {
	MFS_OP_ADD, MFS_OP_SUB, MFS_OP_MUL, MFS_OP_DIV, MFS_OP_MOD,
	MFS_OP_EQ, MFS_OP_NE, MFS_OP_LT, MFS_OP_LE, MFS_OP_GT, MFS_OP_GE,
};

enum mfs_expr_fn {
	MFS_FN_LOWER, MFS_FN_UPPER, MFS_FN_TRIM, MFS_FN_LENGTH, MFS_FN_COALESCE, MFS_FN_ROUND,
	MFS_FN_ABS, MFS_FN_SUBSTR, MFS_FN_DATE_TRUNC, MFS_FN_YEAR, MFS_FN_MONTH, MFS_FN_DAY,
};

enum mfs_expr_agg {
	MFS_AGG_COUNT_STAR, MFS_AGG_COUNT, MFS_AGG_SUM, MFS_AGG_AVG, MFS_AGG_MIN, MFS_AGG_MAX,
};

struct mfs_expr {
	enum mfs_expr_kind kind;
	int op;            /* operator, function, aggregate; see the kinds */
	int negated;
	int distinct;      /* aggregates: count(DISTINCT x) */
	int has_operand;   /* CASE x WHEN ... */
	int has_else;
	int line, col;     /* the token that names the node: operator, name, literal */
	size_t off, end;   /* the source text the node covers: [off, end) */
	int depth;         /* 1 + the deepest kid */

	struct mfs_value lit; /* LITERAL as written; a string points into @str */
	char *str;
	char *name;        /* COLUMN: NUL-terminated, "qual.name" when qualified */
	size_t name_len;
	size_t qual_len;   /* length of "qual" in name, 0 when unqualified */
	enum mfs_type cast_type; /* CAST */
	int cast_scale;

	struct mfs_expr **kids;
	size_t nkids;

	/* Set by mfs_expr_bind(). */
	int bound;
	enum mfs_type type; /* result type */
	int scale;
	struct mfs_value val; /* LITERAL: the value used (a string literal may have
				 been converted to the type it is compared with) */
	int index;          /* COLUMN: row index. AGG: -1 after bind; gold sets
			       the row index where it puts the aggregate's result
			       before evaluating the expression around it */
};

/*
 * Visit @e and its kids depth first, parents before kids. @fn returns 0 to
 * go on, 1 to skip the node's kids, <0 to stop (returned).
 */
int mfs_expr_walk(struct mfs_expr *e, int (*fn)(void *arg, struct mfs_expr *e), void *arg);

/* The two trees are the same expression (column names compared exactly,
 * keywords and white space ignored): for GROUP BY matching. */
int mfs_expr_equal(const struct mfs_expr *a, const struct mfs_expr *b);

/* ---- values (the rules the evaluator uses, for gold's ORDER BY, min, max) ---- */

/*
 * Order two non-NULL values of comparable types (numbers with numbers,
 * dates with timestamps, strings bytewise, false < true, NaN largest):
 * <0, 0, >0.
 */
int mfs_expr_value_cmp(const struct mfs_value *a, const struct mfs_value *b);

/*
 * CAST @in to @type/@scale; strings built in @arena. 0, -EDOM (no such
 * value; reason via mfs_set_error), -ERANGE, -ENOMEM. NULL stays NULL.
 */
int mfs_expr_cast(const struct mfs_value *in, enum mfs_type type, int scale,
		  struct mfs_arena *arena, struct mfs_value *out);

#endif
