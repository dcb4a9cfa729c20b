/* placeholder: being written */
#include "ck_segment.h"
