#!/bin/sh
# Turn the numbered sql/NNN_*.sql migrations into a C table linked into herald.
set -e
echo '/* Generated from the sql directory by build-aux/embed-sql.sh: do not edit. */'
echo '#include "migrations.h"'
echo
echo 'const struct migration migrations[] = {'
for f in "$@"; do
	base=$(basename "$f")
	num=$(echo "$base" | sed 's/^0*\([0-9][0-9]*\)_.*/\1/')
	printf '\t{%s, "%s",\n' "$num" "$base"
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t "/' -e 's/$/\\n"/' "$f"
	printf '\t},\n'
done
echo '};'
echo
echo "const size_t n_migrations = sizeof(migrations) / sizeof(migrations[0]);"
