// Package lint has no code of its own: its test runs the module's static checks, staticcheck over the Go
// code and tsc (strict) over the JSDoc-typed browser SDK and app, so that the README's one test command,
// go test -race ./..., covers them too. .ci/run installs both tools; see lint_test.go for where they are
// looked for.
package lint
