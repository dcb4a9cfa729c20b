/* placeholder: being written */
#include "ck_config.h"
