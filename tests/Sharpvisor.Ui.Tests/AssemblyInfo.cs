// One browser and one daemon at a time: the machines that run these have few cores, and timeouts are real.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
