// Package localefix runs before the GUI toolkit's own initialisation and gives it a language it can read.
//
// Fyne reads the locale while its packages initialise, and logs an error it cannot act on ("Error parsing user
// locale C") for the POSIX locales ("C", "C.UTF-8", "POSIX"), which servers and CI use. Those locales mean
// "untranslated English", so this package names English for it through LANGUAGE, which only message catalogues
// read and which the POSIX locale itself ignores. Go initialises packages in import-path order once their own
// imports are ready (Go 1.21 and later): this package needs only os and strings, and Fyne's language package
// needs text/template, which sorts after it, so this init always runs first. Import it from package main.
package localefix

import (
	"os"
	"strings"
)

func init() {
	if os.Getenv("LANGUAGE") != "" {
		return
	}
	for _, name := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		v := os.Getenv(name)
		if v == "" {
			continue
		}
		if v == "C" || v == "POSIX" || strings.HasPrefix(v, "C.") {
			os.Setenv("LANGUAGE", "en")
		}
		return
	}
}
