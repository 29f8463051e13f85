# Writes OUTPUT, a C++ file holding the bytes of INPUT as emu::kHeaderText (cmake -P, called by CMakeLists.txt).
file(READ ${INPUT} hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR bytes "${digits} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x[0-9a-f][0-9a-f],){32}" "\\0\n" body "${body}")
file(WRITE ${OUTPUT}
    "// Generated from include/med2e3_emu.h by embed_header.cmake; do not edit.\n"
    "#include <stddef.h>\n"
    "namespace emu {\n"
    "extern const char* const kHeaderText;\n"
    "extern const size_t kHeaderSize;\n"
    "static const unsigned char kBytes[] = {\n${body}0};\n"
    "const char* const kHeaderText = (const char*)kBytes;\n"
    "const size_t kHeaderSize = ${bytes};\n"
    "}  // namespace emu\n")
