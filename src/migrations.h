/* The schema migrations from sql/, embedded at build time. */
#ifndef HERALD_MIGRATIONS_H
#define HERALD_MIGRATIONS_H

#include <stddef.h>

struct migration {
	int version;      /* the number the file name starts with */
	const char *name; /* the file name */
	const char *sql;
};

/* In ascending version order. */
extern const struct migration migrations[];
extern const size_t n_migrations;

#endif
