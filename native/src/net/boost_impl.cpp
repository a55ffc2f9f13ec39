// The compiled parts of Boost.Asio and Boost.Beast, once for the whole engine
// (BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION, set in CMakeLists.txt): every
// other file only includes declarations, which keeps rebuilds of the net/ files fast.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
