package e2e

import (
	"os"
	"testing"

	"github.com/p2plobby/p2plobby/internal/browsertest"
)

// TestMain stops the browser that the tests' people share (see open) once every test is done.
func TestMain(m *testing.M) {
	code := m.Run()
	browsertest.CloseShared()
	os.Exit(code)
}
