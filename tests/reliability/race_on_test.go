//go:build race

package reliability_test

// raceEnabled stretches deadlines: the race detector slows Go code down.
const raceEnabled = true
