import os

import torch

# Tests are tiny: two threads at most keeps them quick and predictable on CI's two cores.
torch.set_num_threads(min(2, int(os.environ.get("V2V_TEST_THREADS", "2"))))
