package replicas

import "testing"

func TestDesiredWeight(t *testing.T) {
	w := func(v int32) *int32 { return &v }
	tests := []struct {
		name string
		s    StepState
		want int32
	}{
		{"current setWeight", StepState{SetWeight: w(20)}, 20},
		{"pause before any setWeight", StepState{}, 0},
		{"aborted", StepState{Aborted: true, SetWeight: w(50)}, 0},
		{"steps done", StepState{StepsDone: true, SetWeight: w(50)}, 100},
		{"aborted beats steps done", StepState{Aborted: true, StepsDone: true}, 0},
		{"promote --full beats abort", StepState{PromoteFull: true, Aborted: true}, 100},
		{"no distinct stable", StepState{NoStableHash: true, SetWeight: w(10)}, 100},
	}
	for _, tt := range tests {
		if got := DesiredWeight(tt.s); got != tt.want {
			t.Errorf("%s: DesiredWeight = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestActualWeight(t *testing.T) {
	tests := []struct{ canary, total, want int32 }{
		{1, 5, 20},
		{3, 6, 50}, // 3 canary + 3 stable: 50, not 3/5 = 60
		{5, 5, 100},
		{0, 5, 0},
		{0, 0, 0},
		{1, 3, 33}, // rounded down
		{2, 3, 66},
		{1, 11, 9},
	}
	for _, tt := range tests {
		if got := ActualWeight(tt.canary, tt.total); got != tt.want {
			t.Errorf("ActualWeight(%d, %d) = %d, want %d", tt.canary, tt.total, got, tt.want)
		}
	}
}
