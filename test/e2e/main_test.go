// Package e2e drives Sluice's workflows end to end on a real control plane
// (kwokctl sandbox) with the controller running in-process.
package e2e

import (
	"testing"

	"github.com/sluice-dev/sluice/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, 3) }
