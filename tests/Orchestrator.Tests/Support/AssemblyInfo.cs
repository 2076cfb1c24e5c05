// Lifecycle tests start silos and agent processes and measure progress by events; running them one at a time on
// a 2-core machine keeps timeouts meaningful.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
