/* placeholder: being written */
#include "ck_meta.h"
