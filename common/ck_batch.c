/* placeholder: being written */
#include "ck_batch.h"
