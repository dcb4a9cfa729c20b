/* placeholder: being written */
#include "ck_lmdb.h"
