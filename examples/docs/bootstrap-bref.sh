#!/bin/sh
# bootstrap in the function package of a Bref (PHP) function. A bootstrap in the function
# package (/var/task) is found before the one in the Bref layer (/opt/bootstrap), so this file
# puts lctrace between Lambda and Bref's own runtime.
exec /opt/lctrace-wrapper /opt/bootstrap "$@"
