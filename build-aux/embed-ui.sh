#!/bin/sh
# Turn the web console's files (ui/) into a C table of byte arrays linked into herald.
# Usage: embed-ui.sh DIR FILE...  (each FILE, relative to DIR, is served as /ui/FILE)
set -e
dir=$1
shift
nl='
'
echo '/* Generated from the ui directory by build-aux/embed-ui.sh: do not edit. */'
echo '#include "ui_files.h"'
echo
n=0
table=
for f in "$@"; do
	case $f in
	*.html) type='text/html; charset=utf-8' ;;
	*.css) type='text/css; charset=utf-8' ;;
	*.js) type='text/javascript; charset=utf-8' ;;
	*.svg) type='image/svg+xml' ;;
	*) echo "embed-ui.sh: $f: no content type for this name" >&2; exit 1 ;;
	esac
	[ -s "$dir/$f" ] || { echo "embed-ui.sh: $f is empty" >&2; exit 1; }
	echo "static const unsigned char file_$n[] = {"
	od -An -v -tu1 "$dir/$f" | sed -e 's/  */,/g' -e 's/^,/\t/' -e 's/$/,/'
	echo '};'
	# the ETag: the content's CRC and length, which change with it
	tag=$(cksum <"$dir/$f" | awk '{ printf "%08x-%x", $1, $2 }')
	table="$table$(printf '\t{"/ui/%s", "%s", "\\"%s\\"", file_%d, sizeof(file_%d)},' \
		"$f" "$type" "$tag" "$n" "$n")$nl"
	n=$((n + 1))
done
echo
echo 'const struct ui_file ui_files[] = {'
printf '%s' "$table"
echo '};'
echo
echo 'const size_t ui_nfiles = sizeof(ui_files) / sizeof(ui_files[0]);'
