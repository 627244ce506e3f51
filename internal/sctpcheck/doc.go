// Package sctpcheck holds tests of the SCTP the Go peer runs on: pion/sctp from third_party/pion-sctp (through
// go.mod's replace), for the behaviour p2plobby changed there (its README.p2plobby.md). That copy is a module
// of its own, which the project's test command does not reach; these tests do, through its public API.
package sctpcheck
