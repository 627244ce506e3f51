// Package fuzzrun has no code of its own. Its test finds every fuzz target of the module (a func FuzzX(*testing.F)
// in a _test.go file), checks that each has a committed seed corpus (testdata/fuzz/FuzzX beside it, which every
// go test runs), and, under CI=true or P2PLOBBY_FUZZ=1, fuzzes each one for a few seconds, one after the other, so
// that the README's one test command also fuzzes. A crash fails the test with go's report; go has then written the
// input to the target's testdata/fuzz/FuzzX, where it stays as a regression case once the bug is fixed.
// docs/design.md ("Fuzzing") lists the targets and how to run one longer.
package fuzzrun
